using Engine.Ilgpu.Kernels;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend : IFusedAttention
{
    /// <summary>
    /// The flash-attention kernels, where the accelerator runs their 64-thread groups (every GPU; not ILGPU's
    /// CPU accelerator in its default 16-thread shape, where attention is composed of matmul and softmax).
    /// </summary>
    readonly AttentionKernels? _attention;

    /// <inheritdoc/>
    public bool SupportsAttention(AttentionPlan plan) => _attention is not null && AttentionKernels.Supports(plan);

    /// <inheritdoc/>
    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse, AttentionPlan p)
    {
        const string op = "attention";
        var kernels = _attention ?? throw new NotSupportedException($"{Name}: {op}: this accelerator has no fused attention");
        Bind();
        kernels.Forward(View(q, (long)p.BatchHeads * p.T * p.D, op), View(k, (long)p.BatchHeads * p.S * p.D, op),
            View(v, (long)p.BatchHeads * p.S * p.Dv, op), mask is null ? null : View(mask, AttentionKernels.MaskExtent(p), op),
            View(o, (long)p.BatchHeads * p.T * p.Dv, op), View(lse, (long)p.BatchHeads * p.T, op), p);
    }

    /// <inheritdoc/>
    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk,
        Tensor dv, AttentionPlan p)
    {
        const string op = "attention_backward";
        var kernels = _attention ?? throw new NotSupportedException($"{Name}: {op}: this accelerator has no fused attention");
        long qn = (long)p.BatchHeads * p.T * p.D, kn = (long)p.BatchHeads * p.S * p.D;
        long vn = (long)p.BatchHeads * p.S * p.Dv, on = (long)p.BatchHeads * p.T * p.Dv, rows = (long)p.BatchHeads * p.T;
        Bind();
        // Kernels run in stream order, so the scratch can go back to the pool as soon as they are queued.
        var delta = Pool.Rent((int)Math.Max(rows, 1));
        try
        {
            kernels.Backward(View(q, qn, op), View(k, kn, op), View(v, vn, op), mask is null ? null : View(mask, AttentionKernels.MaskExtent(p), op),
                View(o, on, op), View(lse, rows, op), View(dO, on, op), View(dq, qn, op), View(dk, kn, op), View(dv, vn, op),
                delta.View.SubView(0, Math.Max(rows, 1)), p);
        }
        finally
        {
            Pool.Return(delta);
        }
    }
}
