using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Fused scaled-dot-product attention in the manner of FlashAttention-2, for head sizes up to
/// <see cref="MaxHead"/>. Four lanes own one query row (forward, dQ) or one key row (dK, dV), each holding a quarter
/// of the row's vectors in registers (<see cref="RowQuarter"/>); dot products meet across the four lanes by warp
/// shuffles. Every output element is a sum in a fixed order and the kernels need no atomics: results are
/// bit-reproducible. The key/value (or query/dO) tile being streamed is shared by the group.
/// <para>
/// Every thread of a group runs the same number of steps of the inner loops, whether its row is past the end, the
/// key is past its causal limit or masked out, because each step shuffles: those rows compute and discard. Rows
/// therefore stop at the last key tile any row of their group can see, not at their own last key.
/// </para>
/// <para>
/// Forward: the scaled q row and the output accumulator live in registers, and each key of a <see cref="ForwardKeys"/>
/// tile is read from shared memory as 128-bit words. An online softmax keeps the running max m and sum l, rescaling
/// the accumulator by e^(m_old − m_new) only when m grows; it writes O and the per-row logsumexp m + ln l. Masked
/// scores of −∞ are skipped; a row that sees no key at all gets O = 0 and lse = −∞ (the composition would give NaN).
/// </para>
/// <para>
/// Backward, with D = rowsum(dO ⊙ O) precomputed by <see cref="RowDot"/>: P = e^(s − lse) is recomputed tile
/// by tile; dS = P ⊙ (dO·vᵀ − D). <see cref="QueryGradient"/> runs over query blocks (q, dO and the dQ accumulator in
/// registers; dQ = scale·dS·K) and <see cref="KeyValueGradient"/> over key blocks (k, v and both accumulators in
/// registers; dV = Pᵀ·dO, dK = scale·dSᵀ·Q).
/// </para>
/// </summary>
internal static class AttentionFlash
{
    /// <summary>The largest head size (D and Dv) the kernels hold in shared memory.</summary>
    public const int MaxHead = 64;

    /// <summary>Lanes that share one row, each with a quarter of it (a divisor of every warp size ILGPU has).</summary>
    public const int LanesPerRow = 4;

    /// <summary>Query rows per group in the forward pass.</summary>
    public const int ForwardRows = 64;

    /// <summary>Query or key rows per group in the backward passes.</summary>
    public const int BackwardRows = 32;

    /// <summary>Threads per group of the forward pass.</summary>
    public const int ForwardThreads = ForwardRows * LanesPerRow;

    /// <summary>Threads per group of the backward passes.</summary>
    public const int BackwardThreads = BackwardRows * LanesPerRow;

    /// <summary>Keys streamed through shared memory per step of the forward pass.</summary>
    public const int ForwardKeys = 32;

    /// <summary>Keys (dQ) or queries (dK/dV) streamed through shared memory per step of the backward passes.</summary>
    public const int KeyTile = 16;

    /// <summary>Forward: grid (⌈T/64⌉, BatchHeads), groups of <see cref="ForwardThreads"/>.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> o, ArrayView<float> lse, AttentionArgs p)
    {
        const int rows = ForwardRows, words = MaxHead / 4;
        var ks = SharedMemory.Allocate<Float4>(ForwardKeys * words);
        var vs = SharedMemory.Allocate<Float4>(ForwardKeys * words);

        int tid = Group.IdxX, lane = tid % LanesPerRow, bh = Grid.IdxY, row0 = Grid.IdxX * rows, i = row0 + tid / LanesPerRow;
        bool active = i < p.T;
        long qBase = ((long)bh * p.T + i) * p.D, oBase = ((long)bh * p.T + i) * p.Dv;
        long kvBase = (long)bh * p.KeyRows, maskRow = p.MaskBase(bh) + (long)i * p.S;
        var qr = active ? RowQuarter.Load(q, qBase, p.D, p.Scale, lane) : default;
        var acc = default(RowQuarter);

        float m = float.NegativeInfinity, l = 0f;
        int lastKey = p.LastKey(i), keyEnd = Math.Min(p.S, p.LastKey(Math.Min(row0 + rows, p.T) - 1) + 1);
        for (int j0 = 0; j0 < keyEnd; j0 += ForwardKeys)
        {
            int count = Math.Min(ForwardKeys, keyEnd - j0);
            LoadPadded(k, ks.Cast<float>(), (kvBase + j0) * p.D, count, p.D, tid, ForwardThreads, ForwardKeys);
            LoadPadded(v, vs.Cast<float>(), (kvBase + j0) * p.Dv, count, p.Dv, tid, ForwardThreads, ForwardKeys);
            Group.Barrier();
            for (int jj = 0; jj < count; jj++)
            {
                int j = j0 + jj;
                float s = RowQuarter.Dot(ref qr, ks, jj * words, lane);
                if (!active || j > lastKey) continue;
                if (p.HasMask != 0) s += mask[maskRow + j];
                if (s == float.NegativeInfinity) continue;
                float alpha = OnlineSoftmaxStep(s, ref m, ref l, out float e);
                RowQuarter.ScaleAdd(ref acc, alpha, e, vs, jj * words, lane);
            }
            Group.Barrier();
        }
        if (!active) return;
        RowQuarter.Store(ref acc, o, oBase, p.Dv, l > 0f ? 1f / l : 0f, lane);
        if (lane == 0) lse[(long)bh * p.T + i] = l > 0f ? m + MathF.Log(l) : float.NegativeInfinity;
    }

    /// <summary>
    /// One key of the online softmax, with score s: raises the running max m to s when s is larger, adds e = e^(s − m) to
    /// the running sum l, and returns alpha = e^(m_old − m_new), the factor that the accumulator must be scaled by before
    /// e · v is added (1 when m did not grow: the accumulator is rescaled only then).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float OnlineSoftmaxStep(float s, ref float m, ref float l, out float e)
    {
        float alpha = 1f;
        if (s > m)
        {
            alpha = m == float.NegativeInfinity ? 0f : MathF.Exp(m - s);
            m = s;
            e = 1f;
        }
        else e = MathF.Exp(s - m);
        l = l * alpha + e;
        return alpha;
    }

    /// <summary>delta[r] = Σ_c dO[r, c] · O[r, c]; one thread per row (launched over exactly the rows).</summary>
    public static void RowDot(Index1D r, ArrayView<float> dO, ArrayView<float> o, ArrayView<float> delta, int cols)
    {
        long at = (long)r.X * cols;
        float sum = 0f;
        for (int c = 0; c < cols; c++) sum += dO[at + c] * o[at + c];
        delta[r] = sum;
    }

    /// <summary>dQ: grid (⌈T/32⌉, BatchHeads), groups of <see cref="BackwardThreads"/>; q, dO and dQ in registers.</summary>
    public static void QueryGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dq, AttentionArgs p)
    {
        const int rows = BackwardRows, words = MaxHead / 4;
        var ks = SharedMemory.Allocate<Float4>(KeyTile * words);
        var vs = SharedMemory.Allocate<Float4>(KeyTile * words);

        int tid = Group.IdxX, lane = tid % LanesPerRow, bh = Grid.IdxY, row0 = Grid.IdxX * rows, i = row0 + tid / LanesPerRow;
        bool active = i < p.T;
        long qBase = ((long)bh * p.T + i) * p.D, oBase = ((long)bh * p.T + i) * p.Dv;
        long kvBase = (long)bh * p.KeyRows, maskRow = p.MaskBase(bh) + (long)i * p.S;
        var qr = active ? RowQuarter.Load(q, qBase, p.D, p.Scale, lane) : default;
        var dor = active ? RowQuarter.Load(dO, oBase, p.Dv, 1f, lane) : default;
        var acc = default(RowQuarter);
        float rowLse = active ? lse[(long)bh * p.T + i] : float.NegativeInfinity;
        float rowDelta = active ? delta[(long)bh * p.T + i] : 0f;

        int lastKey = p.LastKey(i), keyEnd = Math.Min(p.S, p.LastKey(Math.Min(row0 + rows, p.T) - 1) + 1);
        for (int j0 = 0; j0 < keyEnd; j0 += KeyTile)
        {
            int count = Math.Min(KeyTile, keyEnd - j0);
            LoadPadded(k, ks.Cast<float>(), (kvBase + j0) * p.D, count, p.D, tid, BackwardThreads, KeyTile);
            LoadPadded(v, vs.Cast<float>(), (kvBase + j0) * p.Dv, count, p.Dv, tid, BackwardThreads, KeyTile);
            Group.Barrier();
            for (int jj = 0; jj < count; jj++)
            {
                int j = j0 + jj;
                float s = RowQuarter.Dot(ref qr, ks, jj * words, lane);
                float dp = RowQuarter.Dot(ref dor, vs, jj * words, lane);
                if (j > lastKey || rowLse == float.NegativeInfinity) continue;
                if (p.HasMask != 0) s += mask[maskRow + j];
                if (s == float.NegativeInfinity) continue;
                RowQuarter.Axpy(ref acc, MathF.Exp(s - rowLse) * (dp - rowDelta), ks, jj * words, lane);
            }
            Group.Barrier();
        }
        if (active) RowQuarter.Store(ref acc, dq, qBase, p.D, p.Scale, lane);
    }

    /// <summary>
    /// dK and dV: grid (⌈S/32⌉, BatchHeads), groups of <see cref="BackwardThreads"/>; k, v and both accumulators in
    /// registers.
    /// </summary>
    public static void KeyValueGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs p)
    {
        const int rows = BackwardRows, words = MaxHead / 4;
        var qt = SharedMemory.Allocate<Float4>(KeyTile * words);
        var dot = SharedMemory.Allocate<Float4>(KeyTile * words);
        var lt = SharedMemory.Allocate<float>(KeyTile);
        var dt = SharedMemory.Allocate<float>(KeyTile);

        int tid = Group.IdxX, lane = tid % LanesPerRow, bh = Grid.IdxY, key0 = Grid.IdxX * rows, j = key0 + tid / LanesPerRow;
        bool active = j < p.S;
        long kBase = ((long)bh * p.KeyRows + j) * p.D, vBase = ((long)bh * p.KeyRows + j) * p.Dv;
        long qRows = (long)bh * p.T, maskBase = p.MaskBase(bh);
        var kr = active ? RowQuarter.Load(k, kBase, p.D, p.Scale, lane) : default;
        var vr = active ? RowQuarter.Load(v, vBase, p.Dv, 1f, lane) : default;
        var dka = default(RowQuarter);
        var dva = default(RowQuarter);

        int firstQuery = p.FirstQuery(key0), myFirstQuery = p.FirstQuery(j);
        for (int i0 = firstQuery - firstQuery % KeyTile; i0 < p.T; i0 += KeyTile)
        {
            int count = Math.Min(KeyTile, p.T - i0);
            LoadPadded(q, qt.Cast<float>(), (qRows + i0) * p.D, count, p.D, tid, BackwardThreads, KeyTile);
            LoadPadded(dO, dot.Cast<float>(), (qRows + i0) * p.Dv, count, p.Dv, tid, BackwardThreads, KeyTile);
            if (tid < count)
            {
                lt[tid] = lse[qRows + i0 + tid];
                dt[tid] = delta[qRows + i0 + tid];
            }
            Group.Barrier();
            for (int ii = 0; ii < count; ii++)
            {
                int i = i0 + ii;
                float s = RowQuarter.Dot(ref kr, qt, ii * words, lane);
                float dp = RowQuarter.Dot(ref vr, dot, ii * words, lane);
                float rowLse = lt[ii];
                if (!active || i < myFirstQuery || rowLse == float.NegativeInfinity) continue;
                if (p.HasMask != 0) s += mask[maskBase + (long)i * p.S + j];
                if (s == float.NegativeInfinity) continue;
                float prob = MathF.Exp(s - rowLse);
                RowQuarter.Axpy(ref dva, prob, dot, ii * words, lane);
                RowQuarter.Axpy(ref dka, prob * (dp - dt[ii]) * p.Scale, qt, ii * words, lane);
            }
            Group.Barrier();
        }
        if (!active) return;
        RowQuarter.Store(ref dka, dk, kBase, p.D, 1f, lane);
        RowQuarter.Store(ref dva, dv, vBase, p.Dv, 1f, lane);
    }

    /// <summary>
    /// Copies <paramref name="count"/> rows of <paramref name="cols"/> floats from x into s[row·MaxHead + c]
    /// and zero-fills the rest of the <paramref name="tileRows"/> × MaxHead tile, cooperatively.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadPadded(ArrayView<float> x, ArrayView<float> s, long xBase, int count, int cols, int tid, int threads, int tileRows)
    {
        for (int e = tid; e < tileRows * MaxHead; e += threads)
        {
            int r = e / MaxHead, c = e % MaxHead;
            s[e] = r < count && c < cols ? x[xBase + (long)r * cols + c] : 0f;
        }
    }
}
