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
/// The backward kernels hold their thread's rows in registers the same way (dQ: q, dO and the dQ
/// accumulator; dK/dV: k, v and the dV accumulator), except dK's accumulator, which sits in shared memory
/// laid out [column][row] (so that a warp touches consecutive banks) to keep registers under ~200.
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

    /// <summary>
    /// dQ: grid (⌈T/32⌉, BatchHeads), groups of 32; one thread per query row, q and dQ in registers and dO in shared memory
    /// ([column][row], so the 32 threads read 32 banks): three head rows in registers would spill.
    /// </summary>
    public static void QueryGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dq, AttentionArgs p)
    {
        const int rows = BackwardRows, words = MaxHead / 4;
        var ks = SharedMemory.Allocate<Float4>(KeyTile * words);
        var vs = SharedMemory.Allocate<Float4>(KeyTile * words);
        var dos = SharedMemory.Allocate<float>(MaxHead * rows);

        int tid = Group.IdxX, bh = Grid.IdxY, row0 = Grid.IdxX * rows, i = row0 + tid;
        bool active = i < p.T;
        long qBase = ((long)bh * p.T + i) * p.D, oBase = ((long)bh * p.T + i) * p.Dv;
        long kvBase = (long)bh * p.S, maskRow = p.MaskBase(bh) + (long)i * p.S;
        var qr = active ? HeadRow.Load(q, qBase, p.D, p.Scale) : default;
        // Each thread writes and reads only its own column of dos: no barrier is needed for it.
        for (int c = 0; c < MaxHead; c++) dos[c * rows + tid] = active && c < p.Dv ? dO[oBase + c] : 0f;
        var vf = vs.Cast<float>();
        var acc = default(HeadRow);
        float rowLse = active ? lse[(long)bh * p.T + i] : float.NegativeInfinity;
        float rowDelta = active ? delta[(long)bh * p.T + i] : 0f;

        int lastKey = p.LastKey(i), keyEnd = Math.Min(p.S, p.LastKey(Math.Min(row0 + rows, p.T) - 1) + 1);
        for (int j0 = 0; j0 < keyEnd; j0 += KeyTile)
        {
            int count = Math.Min(KeyTile, p.S - j0);
            LoadPadded(k, ks.Cast<float>(), (kvBase + j0) * p.D, count, p.D, tid, rows, KeyTile);
            LoadPadded(v, vs.Cast<float>(), (kvBase + j0) * p.Dv, count, p.Dv, tid, rows, KeyTile);
            Group.Barrier();
            if (active && rowLse != float.NegativeInfinity)
            {
                for (int jj = 0; jj < count; jj++)
                {
                    int j = j0 + jj;
                    if (j > lastKey) break;
                    float s = HeadRow.Dot(ref qr, ks, jj * words);
                    if (p.HasMask != 0) s += mask[maskRow + j];
                    if (s == float.NegativeInfinity) continue;
                    float dp = 0f;
                    for (int c = 0; c < MaxHead; c++) dp += dos[c * rows + tid] * vf[jj * MaxHead + c];
                    HeadRow.Axpy(ref acc, MathF.Exp(s - rowLse) * (dp - rowDelta), ks, jj * words);
                }
            }
            Group.Barrier();
        }
        if (active) HeadRow.Store(ref acc, dq, qBase, p.D, p.Scale);
    }

    /// <summary>
    /// dK and dV: grid (⌈S/32⌉, BatchHeads), groups of 32; one thread per key row, with k, v and dV in
    /// registers and dK in shared memory ([column][row]).
    /// </summary>
    public static void KeyValueGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs p)
    {
        const int rows = BackwardRows, words = MaxHead / 4;
        var dka = SharedMemory.Allocate<float>(MaxHead * rows);
        var qt = SharedMemory.Allocate<Float4>(KeyTile * words);
        var dot = SharedMemory.Allocate<Float4>(KeyTile * words);
        var lt = SharedMemory.Allocate<float>(KeyTile);
        var dt = SharedMemory.Allocate<float>(KeyTile);
        var qf = qt.Cast<float>();

        int tid = Group.IdxX, bh = Grid.IdxY, key0 = Grid.IdxX * rows, j = key0 + tid;
        bool active = j < p.S;
        long kBase = ((long)bh * p.S + j) * p.D, vBase = ((long)bh * p.S + j) * p.Dv;
        long qRows = (long)bh * p.T, maskBase = p.MaskBase(bh);
        var kr = active ? HeadRow.Load(k, kBase, p.D, p.Scale) : default;
        var vr = active ? HeadRow.Load(v, vBase, p.Dv, 1f) : default;
        var dva = default(HeadRow);
        for (int c = 0; c < p.D; c++) dka[c * rows + tid] = 0f;

        // Query i sees key j when j ≤ i + S − T: the first query that sees this group's first key.
        int firstQuery = p.Causal != 0 ? Math.Max(0, key0 - (p.S - p.T)) : 0;
        for (int i0 = firstQuery - firstQuery % KeyTile; i0 < p.T; i0 += KeyTile)
        {
            int count = Math.Min(KeyTile, p.T - i0);
            LoadPadded(q, qf, (qRows + i0) * p.D, count, p.D, tid, rows, KeyTile);
            LoadPadded(dO, dot.Cast<float>(), (qRows + i0) * p.Dv, count, p.Dv, tid, rows, KeyTile);
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
                    float s = HeadRow.Dot(ref kr, qt, ii * words);
                    if (p.HasMask != 0) s += mask[maskBase + (long)i * p.S + j];
                    if (s == float.NegativeInfinity) continue;
                    float prob = MathF.Exp(s - rowLse);
                    float dp = HeadRow.Dot(ref vr, dot, ii * words);
                    HeadRow.Axpy(ref dva, prob, dot, ii * words);
                    float gs = prob * (dp - dt[ii]) * p.Scale;
                    for (int c = 0; c < p.D; c++) dka[c * rows + tid] += gs * qf[ii * MaxHead + c];
                }
            }
            Group.Barrier();
        }
        if (!active) return;
        for (int c = 0; c < p.D; c++) dk[kBase + c] = dka[c * rows + tid];
        HeadRow.Store(ref dva, dv, vBase, p.Dv, 1f);
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
