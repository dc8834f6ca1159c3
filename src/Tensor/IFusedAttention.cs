namespace Engine;

/// <summary>
/// An optional capability of a backend: fused scaled-dot-product attention that keeps only the output and
/// the per-row logsumexp for the backward pass, instead of the [T, S] probabilities. The Tensor layer checks
/// for it (<see cref="Tensor.TryFusedAttention"/>); a backend without it — the CPU backend — runs the
/// composition matmul → softmax → matmul, so its results do not change. Every tensor is contiguous, float32
/// and on this backend; shapes and mask strides have been validated by the Tensor layer.
/// </summary>
internal interface IFusedAttention
{
    /// <summary>True when <see cref="AttentionForward"/> and <see cref="AttentionBackward"/> handle this plan (e.g. head sizes).</summary>
    bool SupportsAttention(AttentionPlan plan);

    /// <summary>
    /// o = softmax(scale·q·kᵀ + mask [+ causal −∞]) · v over the plan's batch-heads; lse[bh, i] = the
    /// logsumexp of row i's scores (−∞, with o = 0, for a row that sees no key). <paramref name="mask"/> is null
    /// for none.
    /// </summary>
    void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse, AttentionPlan plan);

    /// <summary>
    /// Writes dq, dk and dv (overwriting them) for the upstream gradient <paramref name="dO"/>, recomputing the
    /// probabilities from q, k, the mask and <paramref name="lse"/>.
    /// </summary>
    void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv,
        AttentionPlan plan);
}

/// <summary>
/// One fused attention call. q is [BatchHeads, T, D], k [BatchHeads, S, D], v [BatchHeads, S, Dv], o
/// [BatchHeads, T, Dv], lse [BatchHeads, T]; all dense. With <see cref="Causal"/>, query i sees keys
/// j ≤ i + S − T. An additive mask, when present, is a dense [T, S] block for each batch-head bh at
/// (bh / Heads)·MaskBatchStride + (bh % Heads)·MaskHeadStride: strides of 0 share one block (a [T, S] mask
/// has both 0; a [B, 1, T, S] mask has MaskHeadStride 0).
/// </summary>
internal readonly record struct AttentionPlan(
    int BatchHeads, int T, int S, int D, int Dv, bool Causal, float Scale,
    int Heads = 1, int MaskBatchStride = 0, int MaskHeadStride = 0);
