using System.Diagnostics.CodeAnalysis;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Fused attention when the backend offers it (<see cref="IFusedAttention"/>) and supports this shape:
    /// o = softmax(q·kᵀ/√d + mask [+ causal −∞]) · v over [..., T, d] queries and [..., S, d] keys,
    /// [..., S, dv] values, with lse the per-row logsumexp ([..., T]) that <see cref="FusedAttentionBackward"/>
    /// needs. Returns false, with no work done, when the caller must compose the op itself: on backends
    /// without the capability (the CPU backend), for head sizes the backend does not support, and for masks
    /// that broadcast other than whole [T, S] blocks.
    /// </summary>
    internal static bool TryFusedAttention(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal,
        [NotNullWhen(true)] out Tensor? o, [NotNullWhen(true)] out Tensor? lse)
    {
        o = lse = null;
        if (q.Backend is not IFusedAttention fused) return false;
        RequireAttentionOperands(q, k, v, mask);
        if (PlanAttention(q.Shape, k.Shape, v.Shape, mask?.Shape, causal) is not { } plan || !fused.SupportsAttention(plan)) return false;
        var lead = q.Shape.Dims[..^2];
        o = Uninitialized(new Shape([.. lead, plan.T, plan.Dv]), q.Device);
        lse = Uninitialized(new Shape([.. lead, plan.T]), q.Device);
        if (plan.BatchHeads > 0 && plan.T > 0) fused.AttentionForward(q, k, v, mask, o, lse, plan);
        return true;
    }

    /// <summary>
    /// The gradients of <see cref="TryFusedAttention"/> for the upstream gradient <paramref name="dO"/>, from the
    /// same inputs and the forward pass's o and lse.
    /// </summary>
    internal static (Tensor Dq, Tensor Dk, Tensor Dv) FusedAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal,
        Tensor o, Tensor lse, Tensor dO)
    {
        const string op = "attention_backward";
        if (q.Backend is not IFusedAttention fused) throw new NotSupportedException($"{op}: the {q.Device} backend has no fused attention");
        RequireAttentionOperands(q, k, v, mask);
        var plan = PlanAttention(q.Shape, k.Shape, v.Shape, mask?.Shape, causal);
        if (plan is not { } p
            || !fused.SupportsAttention(p)) throw new NotSupportedException($"{op}: q {q.Shape}, k {k.Shape}, " +
            $"v {v.Shape} is not a fused-attention shape");
        foreach (var t in new[] { o, lse, dO }) q.RequireSameDevice(t, op);
        if (o.Shape != dO.Shape || o.Numel != p.BatchHeads * p.T * p.Dv || lse.Numel != p.BatchHeads * p.T)
            throw new TensorShapeException(op, $"o {o.Shape}, lse {lse.Shape} and dO {dO.Shape} do not fit q {q.Shape}, v {v.Shape}");
        var dq = Uninitialized(q.Shape, q.Device);
        var dk = Uninitialized(k.Shape, q.Device);
        var dv = Uninitialized(v.Shape, q.Device);
        if (p.BatchHeads > 0) fused.AttentionBackward(q, k, v, mask, o, lse, dO, dq, dk, dv, p);
        return (dq, dk, dv);
    }

    /// <summary>
    /// Attention over a packed tree (<see cref="TreeMask"/>) when the backend walks trees itself
    /// (<see cref="ITreeAttention"/>): q and k [..., N, d], v [..., N, dv] give o [..., N, dv] and the per-query
    /// logsumexp lse [..., N] for <see cref="TreeAttentionBackward"/>, at a cost proportional to the tree's
    /// query–key pairs. Returns false, with no work done, on backends without the capability or for head sizes they do
    /// not hold; the caller then attends under <see cref="TreeMask.Dense"/>.
    /// </summary>
    internal static bool TryTreeAttention(Tensor q, Tensor k, Tensor v, TreeMask tree,
        [NotNullWhen(true)] out Tensor? o, [NotNullWhen(true)] out Tensor? lse)
    {
        o = lse = null;
        if (q.Backend is not ITreeAttention walker) return false;
        var (batchHeads, d, dv) = PlanTreeAttention(q, k, v, tree, "tree_attention");
        if (!walker.SupportsTreeAttention(d, dv)) return false;
        var lead = q.Shape.Dims[..^2];
        o = Uninitialized(new Shape([.. lead, tree.Length, dv]), q.Device);
        lse = Uninitialized(new Shape([.. lead, tree.Length]), q.Device);
        walker.TreeAttentionForward(q, k, v, tree, o, lse, batchHeads, 1f / MathF.Sqrt(q.Shape[-1]));
        return true;
    }

    /// <summary>The gradients of <see cref="TryTreeAttention"/> for the upstream gradient <paramref name="dO"/>.</summary>
    internal static (Tensor Dq, Tensor Dk, Tensor Dv) TreeAttentionBackward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o,
        Tensor lse, Tensor dO)
    {
        const string op = "tree_attention_backward";
        if (q.Backend is not ITreeAttention walker) throw new NotSupportedException($"{op}: the {q.Device} backend has no tree attention");
        var (batchHeads, d, dvDim) = PlanTreeAttention(q, k, v, tree, op);
        if (!walker.SupportsTreeAttention(d, dvDim))
            throw new NotSupportedException($"{op}: the {q.Device} backend's tree attention does not hold head sizes d = {d}, dv = {dvDim}");
        foreach (var t in new[] { o, lse, dO }) q.RequireSameDevice(t, op);
        if (o.Shape != dO.Shape || o.Numel != v.Numel || lse.Numel != (long)batchHeads * tree.Length)
            throw new TensorShapeException(op, $"o {o.Shape}, lse {lse.Shape} and dO {dO.Shape} do not fit q {q.Shape}, v {v.Shape}");
        var dq = Uninitialized(q.Shape, q.Device);
        var dk = Uninitialized(k.Shape, q.Device);
        var dvGrad = Uninitialized(v.Shape, q.Device);
        walker.TreeAttentionBackward(q, k, v, tree, o, lse, dO, dq, dk, dvGrad, batchHeads, 1f / MathF.Sqrt(q.Shape[-1]));
        return (dq, dk, dvGrad);
    }

    static (int BatchHeads, int D, int Dv) PlanTreeAttention(Tensor q, Tensor k, Tensor v, TreeMask tree, string op)
    {
        RequireAttentionOperands(q, k, v, null);
        if (q.Rank < 2 || k.Shape != q.Shape || v.Rank != q.Rank || !v.Shape.Dims[..^1].SequenceEqual(q.Shape.Dims[..^1])
            || q.Shape[-2] != tree.Length)
            throw new TensorShapeException(op,
                $"q {q.Shape}, k {k.Shape} and v {v.Shape} must be [..., N, d], [..., N, d], [..., N, " +
                $"dv] with N = {tree.Length} (the tree's length)");
        int batchHeads = 1;
        foreach (int x in q.Shape.Dims[..^2]) batchHeads *= x;
        return (batchHeads, q.Shape[-1], v.Shape[-1]);
    }

    static void RequireAttentionOperands(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        const string op = "attention";
        foreach (var t in mask is null ? new[] { q, k, v } : [q, k, v, mask])
        {
            t.RequireDType(DType.Float32, op);
            q.RequireSameDevice(t, op);
        }
    }

    /// <summary>
    /// The fused-attention plan for these shapes, or null when the mask broadcasts in a way the plan cannot
    /// express (anything but whole [T, S] blocks shared across all leading axes, across the leading axes but
    /// the last (heads), or across none). q, k and v must fit [..., T, d], [..., S, d], [..., S, dv].
    /// </summary>
    internal static AttentionPlan? PlanAttention(Shape q, Shape k, Shape v, Shape? mask, bool causal)
    {
        const string op = "attention";
        if (q.Rank < 2 || k.Rank != q.Rank || v.Rank != q.Rank)
            throw new TensorShapeException(op, $"q {q}, k {k} and v {v} must have the same rank ≥ 2");
        int t = q[-2], d = q[-1], s = k[-2], dv = v[-1];
        var lead = q.Dims[..^2];
        if (k[-1] != d || v[-2] != s || !lead.SequenceEqual(k.Dims[..^2]) || !lead.SequenceEqual(v.Dims[..^2]))
            throw new TensorShapeException(op, $"q {q}, k {k} and v {v} do not fit [..., T, d], [..., S, d], [..., S, dv]");
        if (causal && s < t) throw new TensorShapeException(op, $"causal attention needs at least as many keys ({s}) as queries ({t})");
        int r = lead.Length, heads = r > 0 ? lead[r - 1] : 1, batchHeads = 1;
        foreach (int x in lead) batchHeads *= x;
        int batchStride = 0, headStride = 0;
        if (mask is { } m)
        {
            if (m.Rank < 2 || m[-2] != t || m[-1] != s || m.Rank - 2 > r) return null;
            int[] ml = m.Dims[..^2].ToArray();
            int Dim(int i) => i - (r - ml.Length) is int j && j >= 0 ? ml[j] : 1;
            int mh = r > 0 ? Dim(r - 1) : 1;
            if (mh == heads) headStride = heads > 1 ? t * s : 0;
            else if (mh != 1) return null;
            bool shared = true, full = true;
            for (int i = 0; i < r - 1; i++)
            {
                shared &= Dim(i) == 1;
                full &= Dim(i) == lead[i];
            }
            if (!shared && !full) return null;
            batchStride = shared ? 0 : mh * t * s;
        }
        return new AttentionPlan(batchHeads, t, s, d, dv, causal, 1f / MathF.Sqrt(d), heads, batchStride, headStride);
    }
}
