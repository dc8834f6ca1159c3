namespace Engine;

/// <summary>
/// An optional capability of a backend: attention over a <see cref="TreeMask"/> that visits only each
/// query's ancestors. The Tensor layer checks for it (<see cref="Tensor.TryTreeAttention"/>); elsewhere the
/// caller attends densely under <see cref="TreeMask.Dense"/>. q, k are [BatchHeads, N, d], v and o
/// [BatchHeads, N, dv], lse [BatchHeads, N]; all dense, float32, on this backend and validated.
/// </summary>
internal interface ITreeAttention
{
    /// <summary>False for head sizes this backend's walk does not hold; the caller then attends under the dense mask.</summary>
    bool SupportsTreeAttention(int d, int dv);


    /// <summary>o = softmax over each query's ancestors of scale·q·kᵀ, times v; lse the per-query logsumexp.</summary>
    void TreeAttentionForward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, int batchHeads, float scale);

    /// <summary>dq, dk and dv (overwritten) for the upstream gradient dO, recomputing the probabilities from lse.</summary>
    void TreeAttentionBackward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv,
        int batchHeads, float scale);
}
