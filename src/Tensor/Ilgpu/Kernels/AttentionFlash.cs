using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Fused scaled-dot-product attention in the manner of FlashAttention-2, for head sizes up to
/// <see cref="MaxHead"/>. One thread owns one query row (forward, dQ) or one key row (dK, dV), so every
/// output element is a sum in a fixed order and the kernels need no atomics: results are bit-reproducible.
/// The key/value (or query/dO) tile being streamed is shared by the group.
/// <para>
/// Forward: the thread's scaled q row and output accumulator live in registers (<see cref="HeadRow"/>,
/// zero-padded to 64), and each key of a <see cref="ForwardKeys"/> tile is read from shared memory as
/// 128-bit broadcasts. An online softmax keeps the running max m and sum l, rescaling the accumulator by
/// e^(m_old − m_new) only when m grows; it writes O and the per-row logsumexp m + ln l. Causal groups stop
/// at the last key tile any of their rows can see. Masked scores of −∞ are skipped; a row that sees no key
/// at all gets O = 0 and lse = −∞ (the composition would give NaN).
/// </para>
/// <para>
/// In the backward kernels the per-row vectors (q, dO, accumulators) sit in shared memory laid out
/// [column][row], so that the threads of a warp touch consecutive banks.
/// </para>
/// <para>
/// Backward, with D = rowsum(dO ⊙ O) precomputed by <see cref="RowDot"/>: P = e^(s − lse) is recomputed tile
/// by tile; dS = P ⊙ (dO·vᵀ − D). <see cref="QueryGradient"/> runs over query blocks (dQ = scale·dS·K) and
/// <see cref="KeyValueGradient"/> over key blocks (dV = Pᵀ·dO, dK = scale·dSᵀ·Q).
/// </para>
/// </summary>
internal static class AttentionFlash
{
    /// <summary>The largest head size (D and Dv) the kernels hold in shared memory.</summary>
    public const int MaxHead = 64;

    /// <summary>Query rows per group in the forward pass (one thread each).</summary>
    public const int ForwardRows = 64;

    /// <summary>Query or key rows per group in the backward passes.</summary>
    public const int BackwardRows = 32;

    /// <summary>Keys streamed through shared memory per step of the forward pass.</summary>
    public const int ForwardKeys = 32;

    /// <summary>Keys (dQ) or queries (dK/dV) streamed through shared memory per step of the backward passes.</summary>
    public const int KeyTile = 16;

    /// <summary>Forward: grid (⌈T/64⌉, BatchHeads), groups of 64.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> o, ArrayView<float> lse, AttentionArgs p)
    {
        const int rows = ForwardRows, words = MaxHead / 4;
        var ks = SharedMemory.Allocate<Float4>(ForwardKeys * words);
        var vs = SharedMemory.Allocate<Float4>(ForwardKeys * words);

        int tid = Group.IdxX, bh = Grid.IdxY, row0 = Grid.IdxX * rows, i = row0 + tid;
        bool active = i < p.T;
        long qBase = ((long)bh * p.T + i) * p.D, oBase = ((long)bh * p.T + i) * p.Dv;
        long kvBase = (long)bh * p.S, maskRow = p.MaskBase(bh) + (long)i * p.S;
        var qr = active ? HeadRow.Load(q, qBase, p.D, p.Scale) : default;
        var acc = default(HeadRow);

        float m = float.NegativeInfinity, l = 0f;
        int lastKey = p.LastKey(i), keyEnd = Math.Min(p.S, p.LastKey(Math.Min(row0 + rows, p.T) - 1) + 1);
        for (int j0 = 0; j0 < keyEnd; j0 += ForwardKeys)
        {
            int count = Math.Min(ForwardKeys, p.S - j0);
            LoadPadded(k, ks.Cast<float>(), (kvBase + j0) * p.D, count, p.D, tid, rows, ForwardKeys);
            LoadPadded(v, vs.Cast<float>(), (kvBase + j0) * p.Dv, count, p.Dv, tid, rows, ForwardKeys);
            Group.Barrier();
            if (active)
            {
                for (int jj = 0; jj < count; jj++)
                {
                    int j = j0 + jj;
                    if (j > lastKey) break;
                    float s = HeadRow.Dot(ref qr, ks, jj * words);
                    if (p.HasMask != 0) s += mask[maskRow + j];
                    if (s == float.NegativeInfinity) continue;
                    // Online softmax, one key at a time: rescale only when the running max grows.
                    float alpha = 1f, e;
                    if (s > m)
                    {
                        alpha = m == float.NegativeInfinity ? 0f : MathF.Exp(m - s);
                        m = s;
                        e = 1f;
                    }
                    else e = MathF.Exp(s - m);
                    l = l * alpha + e;
                    HeadRow.ScaleAdd(ref acc, alpha, e, vs, jj * words);
                }
            }
            Group.Barrier();
        }
        if (!active) return;
        HeadRow.Store(ref acc, o, oBase, p.Dv, l > 0f ? 1f / l : 0f);
        lse[(long)bh * p.T + i] = l > 0f ? m + MathF.Log(l) : float.NegativeInfinity;
    }

    /// <summary>delta[r] = Σ_c dO[r, c] · O[r, c]; one thread per row (launched over exactly the rows).</summary>
    public static void RowDot(Index1D r, ArrayView<float> dO, ArrayView<float> o, ArrayView<float> delta, int cols)
    {
        long at = (long)r.X * cols;
        float sum = 0f;
        for (int c = 0; c < cols; c++) sum += dO[at + c] * o[at + c];
        delta[r] = sum;
    }

    /// <summary>dQ: grid (⌈T/32⌉, BatchHeads), groups of 32; one thread per query row.</summary>
    public static void QueryGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dq, AttentionArgs p)
    {
        const int rows = BackwardRows;
        var qs = SharedMemory.Allocate<float>(MaxHead * rows);
        var dos = SharedMemory.Allocate<float>(MaxHead * rows);
        var acc = SharedMemory.Allocate<float>(MaxHead * rows);
        var ds = SharedMemory.Allocate<float>(KeyTile * rows);
        var ks = SharedMemory.Allocate<float>(KeyTile * MaxHead);
        var vs = SharedMemory.Allocate<float>(KeyTile * MaxHead);

        int tid = Group.IdxX, bh = Grid.IdxY, row0 = Grid.IdxX * rows, i = row0 + tid;
        bool active = i < p.T;
        long qBase = ((long)bh * p.T + i) * p.D, oBase = ((long)bh * p.T + i) * p.Dv;
        long kvBase = (long)bh * p.S, maskRow = p.MaskBase(bh) + (long)i * p.S;
        for (int c = 0; c < p.D; c++)
        {
            qs[c * rows + tid] = active ? q[qBase + c] * p.Scale : 0f;
            acc[c * rows + tid] = 0f;
        }
        for (int c = 0; c < p.Dv; c++) dos[c * rows + tid] = active ? dO[oBase + c] : 0f;
        float rowLse = active ? lse[(long)bh * p.T + i] : float.NegativeInfinity;
        float rowDelta = active ? delta[(long)bh * p.T + i] : 0f;

        int lastKey = p.LastKey(i), keyEnd = Math.Min(p.S, p.LastKey(Math.Min(row0 + rows, p.T) - 1) + 1);
        for (int j0 = 0; j0 < keyEnd; j0 += KeyTile)
        {
            int count = Math.Min(KeyTile, p.S - j0);
            LoadRows(k, ks, (kvBase + j0) * p.D, count, p.D, tid, rows);
            LoadRows(v, vs, (kvBase + j0) * p.Dv, count, p.Dv, tid, rows);
            Group.Barrier();
            if (active)
            {
                for (int jj = 0; jj < count; jj++)
                {
                    int j = j0 + jj;
                    float g = 0f;
                    if (j <= lastKey && rowLse != float.NegativeInfinity)
                    {
                        float s = 0f, dp = 0f;
                        for (int c = 0; c < p.D; c++) s += qs[c * rows + tid] * ks[jj * MaxHead + c];
                        if (p.HasMask != 0) s += mask[maskRow + j];
                        for (int c = 0; c < p.Dv; c++) dp += dos[c * rows + tid] * vs[jj * MaxHead + c];
                        float prob = s == float.NegativeInfinity ? 0f : MathF.Exp(s - rowLse);
                        g = prob * (dp - rowDelta);
                    }
                    ds[jj * rows + tid] = g;
                }
                for (int c = 0; c < p.D; c++)
                {
                    float x = acc[c * rows + tid];
                    for (int jj = 0; jj < count; jj++) x += ds[jj * rows + tid] * ks[jj * MaxHead + c];
                    acc[c * rows + tid] = x;
                }
            }
            Group.Barrier();
        }
        if (!active) return;
        for (int c = 0; c < p.D; c++) dq[qBase + c] = acc[c * rows + tid] * p.Scale;
    }

    /// <summary>dK and dV: grid (⌈S/32⌉, BatchHeads), groups of 32; one thread per key row.</summary>
    public static void KeyValueGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs p)
    {
        const int rows = BackwardRows;
        var kr = SharedMemory.Allocate<float>(MaxHead * rows);
        var vr = SharedMemory.Allocate<float>(MaxHead * rows);
        var dka = SharedMemory.Allocate<float>(MaxHead * rows);
        var dva = SharedMemory.Allocate<float>(MaxHead * rows);
        var qt = SharedMemory.Allocate<float>(KeyTile * MaxHead);
        var dot = SharedMemory.Allocate<float>(KeyTile * MaxHead);
        var lt = SharedMemory.Allocate<float>(KeyTile);
        var dt = SharedMemory.Allocate<float>(KeyTile);

        int tid = Group.IdxX, bh = Grid.IdxY, key0 = Grid.IdxX * rows, j = key0 + tid;
        bool active = j < p.S;
        long kBase = ((long)bh * p.S + j) * p.D, vBase = ((long)bh * p.S + j) * p.Dv;
        long qRows = (long)bh * p.T, maskBase = p.MaskBase(bh);
        for (int c = 0; c < p.D; c++)
        {
            kr[c * rows + tid] = active ? k[kBase + c] : 0f;
            dka[c * rows + tid] = 0f;
        }
        for (int c = 0; c < p.Dv; c++)
        {
            vr[c * rows + tid] = active ? v[vBase + c] : 0f;
            dva[c * rows + tid] = 0f;
        }

        // Query i sees key j when j ≤ i + S − T: the first query that sees this group's first key.
        int firstQuery = p.Causal != 0 ? Math.Max(0, key0 - (p.S - p.T)) : 0;
        for (int i0 = firstQuery - firstQuery % KeyTile; i0 < p.T; i0 += KeyTile)
        {
            int count = Math.Min(KeyTile, p.T - i0);
            LoadRows(q, qt, (qRows + i0) * p.D, count, p.D, tid, rows);
            LoadRows(dO, dot, (qRows + i0) * p.Dv, count, p.Dv, tid, rows);
            if (tid < count)
            {
                lt[tid] = lse[qRows + i0 + tid];
                dt[tid] = delta[qRows + i0 + tid];
            }
            Group.Barrier();
            if (active)
            {
                for (int ii = 0; ii < count; ii++)
                {
                    int i = i0 + ii;
                    float rowLse = lt[ii];
                    if (j > p.LastKey(i) || rowLse == float.NegativeInfinity) continue;
                    float s = 0f, dp = 0f;
                    for (int c = 0; c < p.D; c++) s += qt[ii * MaxHead + c] * kr[c * rows + tid];
                    s *= p.Scale;
                    if (p.HasMask != 0) s += mask[maskBase + (long)i * p.S + j];
                    if (s == float.NegativeInfinity) continue;
                    float prob = MathF.Exp(s - rowLse);
                    for (int c = 0; c < p.Dv; c++)
                    {
                        float g = dot[ii * MaxHead + c];
                        dp += g * vr[c * rows + tid];
                        dva[c * rows + tid] += prob * g;
                    }
                    float gs = prob * (dp - dt[ii]) * p.Scale;
                    for (int c = 0; c < p.D; c++) dka[c * rows + tid] += gs * qt[ii * MaxHead + c];
                }
            }
            Group.Barrier();
        }
        if (!active) return;
        for (int c = 0; c < p.D; c++) dk[kBase + c] = dka[c * rows + tid];
        for (int c = 0; c < p.Dv; c++) dv[vBase + c] = dva[c * rows + tid];
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

    /// <summary>Copies <paramref name="count"/> rows of <paramref name="cols"/> floats from x (starting at xBase) into s[row·MaxHead + c], cooperatively.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadRows(ArrayView<float> x, ArrayView<float> s, long xBase, int count, int cols, int tid, int threads)
    {
        int total = count * cols;
        for (int e = tid; e < total; e += threads)
        {
            int r = e / cols, c = e - r * cols;
            s[r * MaxHead + c] = x[xBase + e];
        }
    }
}
