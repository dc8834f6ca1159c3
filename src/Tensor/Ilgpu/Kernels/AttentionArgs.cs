namespace Engine.Ilgpu.Kernels;

/// <summary>The scalar kernel arguments of <see cref="AttentionPlan"/> (ints for flags: kernel parameters are blittable).</summary>
internal readonly record struct AttentionArgs(
    int BatchHeads, int T, int S, int D, int Dv, int Causal, float Scale,
    int Heads, int MaskBatchStride, int MaskHeadStride, int HasMask)
{
    /// <summary>The offset of batch-head bh's [T, S] mask block.</summary>
    public long MaskBase(int bh) => (long)(bh / Heads) * MaskBatchStride + (long)(bh % Heads) * MaskHeadStride;

    /// <summary>The last key that query i may see (S − 1 without the causal limit).</summary>
    public int LastKey(int i) => Causal != 0 ? i + S - T : S - 1;
}
