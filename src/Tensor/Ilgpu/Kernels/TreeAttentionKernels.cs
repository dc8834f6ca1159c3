using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>The sizes of one tree-attention launch.</summary>
internal struct TreeArgs
{
    public int Length, BatchHeads, Dim, ValueDim;
    public float Scale;
}

/// <summary>
/// Attention along a <see cref="TreeMask"/>: each query reads only its ancestors, given as runs of consecutive keys
/// (<c>offsets</c>, <c>starts</c>, <c>ends</c>, the mask's own layout), so the work is the tree's pairs, not N².
/// One thread per (batch-head, query) in the forward pass and for dQ; one per (batch-head, key) for dK and dV, over the
/// key's descendants (the queries that attend to it, as a CSR list). Every output row has one writer: no atomics, and
/// the same bits on every run.
/// </summary>
internal static class TreeAttentionKernels
{
    static int Step => Grid.DimX * Group.DimX;

    static float Dot(ArrayView<float> a, long at, ArrayView<float> b, long bt, int n)
    {
        float s = 0f;
        for (int c = 0; c < n; c++) s += a[at + c] * b[bt + c];
        return s;
    }

    /// <summary>o_i = Σ_j softmax_j(scale·q_i·k_j) v_j over the ancestors j of i (two passes: the maximum, then the sums); lse_i.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> offsets, ArrayView<int> starts,
        ArrayView<int> ends, ArrayView<float> o, ArrayView<float> lse, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim;
        for (long t = Grid.GlobalIndex.X; t < (long)a.BatchHeads * a.Length; t += Step)
        {
            int i = (int)(t % a.Length);
            long head = t - i, qi = t * d, oi = t * dv;
            float max = float.NegativeInfinity;
            for (int r = offsets[i]; r < offsets[i + 1]; r++)
                for (int j = starts[r]; j < ends[r]; j++) max = MathF.Max(max, a.Scale * Dot(q, qi, k, (head + j) * d, d));
            for (int c = 0; c < dv; c++) o[oi + c] = 0f;
            float sum = 0f;
            for (int r = offsets[i]; r < offsets[i + 1]; r++)
                for (int j = starts[r]; j < ends[r]; j++)
                {
                    float p = MathF.Exp(a.Scale * Dot(q, qi, k, (head + j) * d, d) - max);
                    sum += p;
                    long vj = (head + j) * dv;
                    for (int c = 0; c < dv; c++) o[oi + c] += p * v[vj + c];
                }
            float inv = 1f / sum;
            for (int c = 0; c < dv; c++) o[oi + c] *= inv;
            lse[t] = max + MathF.Log(sum);
        }
    }

    /// <summary>delta_i = dO_i · O_i, for every row.</summary>
    public static void Delta(ArrayView<float> dO, ArrayView<float> o, ArrayView<float> delta, long rows, int dv)
    {
        for (long t = Grid.GlobalIndex.X; t < rows; t += Step) delta[t] = Dot(dO, t * dv, o, t * dv, dv);
    }

    /// <summary>dQ_i = scale Σ_j P_ij (dO_i·v_j − delta_i) k_j over the ancestors j of i, with P recomputed from lse.</summary>
    public static void QueryGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO,
        ArrayView<float> delta, ArrayView<int> offsets, ArrayView<int> starts, ArrayView<int> ends, ArrayView<float> dq, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim;
        for (long t = Grid.GlobalIndex.X; t < (long)a.BatchHeads * a.Length; t += Step)
        {
            int i = (int)(t % a.Length);
            long head = t - i, qi = t * d;
            for (int c = 0; c < d; c++) dq[qi + c] = 0f;
            for (int r = offsets[i]; r < offsets[i + 1]; r++)
                for (int j = starts[r]; j < ends[r]; j++)
                {
                    long kj = (head + j) * d;
                    float p = MathF.Exp(a.Scale * Dot(q, qi, k, kj, d) - lse[t]);
                    float ds = p * (Dot(dO, t * dv, v, (head + j) * dv, dv) - delta[t]) * a.Scale;
                    for (int c = 0; c < d; c++) dq[qi + c] += ds * k[kj + c];
                }
        }
    }

    /// <summary>dV_j = Σ_i P_ij dO_i and dK_j = scale Σ_i P_ij (dO_i·v_j − delta_i) q_i over the queries i that attend to j.</summary>
    public static void KeyValueGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO,
        ArrayView<float> delta, ArrayView<int> queryOffsets, ArrayView<int> queries, ArrayView<float> dk, ArrayView<float> dvOut, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim;
        for (long t = Grid.GlobalIndex.X; t < (long)a.BatchHeads * a.Length; t += Step)
        {
            int j = (int)(t % a.Length);
            long head = t - j, kj = t * d, vj = t * dv;
            for (int c = 0; c < d; c++) dk[kj + c] = 0f;
            for (int c = 0; c < dv; c++) dvOut[vj + c] = 0f;
            for (int e = queryOffsets[j]; e < queryOffsets[j + 1]; e++)
            {
                long row = head + queries[e], qi = row * d;
                float p = MathF.Exp(a.Scale * Dot(q, qi, k, kj, d) - lse[row]);
                float ds = p * (Dot(dO, row * dv, v, vj, dv) - delta[row]) * a.Scale;
                for (int c = 0; c < dv; c++) dvOut[vj + c] += p * dO[row * dv + c];
                for (int c = 0; c < d; c++) dk[kj + c] += ds * q[qi + c];
            }
        }
    }
}
