namespace Engine.Ilgpu.Kernels;

/// <summary>
/// The shape of one fused attention call. q is [BatchHeads, T, D], k [BatchHeads, S, D], v
/// [BatchHeads, S, Dv], o [BatchHeads, T, Dv], lse [BatchHeads, T]; all dense. With <see cref="Causal"/>,
/// query i sees keys j ≤ i + S − T. An additive mask, when present, is a dense [T, S] block for each
/// batch-head bh at (bh / Heads)·MaskBatchStride + (bh % Heads)·MaskHeadStride: strides of 0 share one
/// block (a [T, S] mask has both 0; [B, 1, T, S] has MaskHeadStride 0).
/// </summary>
public readonly record struct AttentionShape(
    int BatchHeads, int T, int S, int D, int Dv, bool Causal, float Scale,
    int Heads = 1, int MaskBatchStride = 0, int MaskHeadStride = 0);

/// <summary>The scalar kernel arguments of <see cref="AttentionShape"/> (ints for flags: kernel parameters are blittable).</summary>
internal readonly record struct AttentionArgs(
    int BatchHeads, int T, int S, int D, int Dv, int Causal, float Scale,
    int Heads, int MaskBatchStride, int MaskHeadStride, int HasMask)
{
    /// <summary>The offset of batch-head bh's [T, S] mask block.</summary>
    public long MaskBase(int bh) => (long)(bh / Heads) * MaskBatchStride + (long)(bh % Heads) * MaskHeadStride;

    /// <summary>The last key that query i may see (S − 1 without the causal limit).</summary>
    public int LastKey(int i) => Causal != 0 ? i + S - T : S - 1;
}
