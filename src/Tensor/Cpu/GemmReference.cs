namespace Engine.Cpu;

/// <summary>
/// The plain triple loop that defines what <see cref="Gemm"/> computes. Tests compare the fast kernel
/// against it; nothing else should call it.
/// </summary>
static unsafe class GemmReference
{
    /// <summary>
    /// c[m×n] (+)= op(a) · op(b). Without transposes a is [m, k] and b is [k, n]; with <paramref name="transA"/>
    /// a is stored [k, m], with <paramref name="transB"/> b is stored [n, k]. All row-major, densely packed.
    /// </summary>
    public static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(long)p * m + i] : a[(long)i * k + p];
                    float bv = transB ? b[(long)j * k + p] : b[(long)p * n + j];
                    sum += (double)av * bv;
                }
                c[(long)i * n + j] = accumulate ? c[(long)i * n + j] + (float)sum : (float)sum;
            }
    }
}
