using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>Single-precision matrix multiply for the CPU backend.</summary>
static unsafe class Gemm
{
    /// <summary>
    /// c[m×n] (+)= op(a) · op(b), with the same layout conventions as <see cref="GemmReference.Multiply"/>.
    /// Row-parallel with a Vector512 inner loop over n.
    /// </summary>
    public static void Multiply(float* a, bool transA, float* b, bool transB, float* c, int m, int n, int k, bool accumulate)
    {
        float* bt = b;
        float[]? packed = null;
        if (transB)
        {
            // Materialise bᵀ once so the inner loop streams rows of b.
            packed = new float[(long)k * n];
            fixed (float* pp = packed)
                for (int j = 0; j < n; j++)
                    for (int p = 0; p < k; p++) pp[(long)p * n + j] = b[(long)j * k + p];
        }
        fixed (float* pb = packed)
        {
            float* bb = transB ? pb : bt;
            CpuParallel.For(m, Math.Max(1, (1 << 18) / Math.Max(1, n * k)), (start, end) =>
            {
                for (int i = start; i < end; i++)
                {
                    float* ci = c + (long)i * n;
                    if (!accumulate) new Span<float>(ci, n).Clear();
                    for (int p = 0; p < k; p++)
                    {
                        float av = transA ? a[(long)p * m + i] : a[(long)i * k + p];
                        var va = Vector512.Create(av);
                        float* bp = bb + (long)p * n;
                        int j = 0;
                        for (; j <= n - 16; j += 16) Vector512.FusedMultiplyAdd(va, Vector512.Load(bp + j), Vector512.Load(ci + j)).Store(ci + j);
                        for (; j < n; j++) ci[j] = MathF.FusedMultiplyAdd(av, bp[j], ci[j]);
                    }
                }
            });
        }
    }
}
