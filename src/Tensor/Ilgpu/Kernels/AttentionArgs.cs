namespace Engine.Ilgpu.Kernels;

/// <summary>
/// The scalar kernel arguments of <see cref="AttentionPlan"/> (ints for flags: kernel parameters are blittable). k and v
/// hold <see cref="KeyRows"/> rows per batch-head, of which the first S are the keys (S = KeyRows but for a tree's trunk).
/// </summary>
internal readonly record struct AttentionArgs(
    int BatchHeads, int T, int S, int D, int Dv, int Causal, float Scale,
    int Heads, int MaskBatchStride, int MaskHeadStride, int HasMask, int KeyRows)
{
    /// <summary><see cref="Causal"/>: every query sees every key.</summary>
    public const int NotCausal = 0;

    /// <summary><see cref="Causal"/>: query i sees keys up to i + S − T (the last query sees the last key).</summary>
    public const int CausalToLastKey = 1;

    /// <summary><see cref="Causal"/>: query i sees keys up to min(i, S − 1) (a tree's trunk, seen by every later query).</summary>
    public const int CausalFromFirstKey = 2;

    /// <summary>The offset of batch-head bh's [T, S] mask block.</summary>
    public long MaskBase(int bh) => (long)(bh / Heads) * MaskBatchStride + (long)(bh % Heads) * MaskHeadStride;

    /// <summary>The last key that query i may see.</summary>
    public int LastKey(int i) => Causal switch
    {
        CausalToLastKey => i + S - T,
        CausalFromFirstKey => Math.Min(i, S - 1),
        _ => S - 1,
    };

    /// <summary>The first query that sees key j.</summary>
    public int FirstQuery(int j) => Causal switch
    {
        CausalToLastKey => Math.Max(0, j - (S - T)),
        CausalFromFirstKey => j,
        _ => 0,
    };
}
