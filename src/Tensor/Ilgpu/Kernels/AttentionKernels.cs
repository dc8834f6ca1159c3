using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Host side of the fused attention kernels (<see cref="AttentionFlash"/>) for one accelerator: loads each
/// kernel once, validates every extent before launching, and launches on the default stream without
/// synchronising. Views start at their tensor's first element and are dense. The accelerator's context
/// must be created with <c>EnableAlgorithms()</c> (ILGPU.Algorithms supplies exp and log for PTX).
/// </summary>
internal sealed class AttentionKernels
{
    /// <summary>The largest head size (D and Dv) the fused kernels support.</summary>
    public const int MaxHead = AttentionFlash.MaxHead;

    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        AttentionArgs> _forward;
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _rowDot;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, AttentionArgs> _queryGradient;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs> _keyValueGradient;

    readonly Accelerator _accelerator;

    /// <summary>
    /// True when the kernels can run on <paramref name="accelerator"/>: groups of 256 threads (every GPU;
    /// ILGPU's CPU accelerator only as <c>CPUDevice.Nvidia</c>, not in its default 16-thread shape).
    /// </summary>
    public static bool CanRunOn(Accelerator accelerator) => accelerator.MaxNumThreadsPerGroup >= AttentionFlash.ForwardThreads;

    /// <summary>The number of mask elements a plan reads: up to the end of the last batch-head's [T, S] block.</summary>
    public static long MaskExtent(AttentionPlan plan)
    {
        if (plan.BatchHeads == 0) return 0;
        int last = plan.BatchHeads - 1;
        return (long)(last / plan.Heads) * plan.MaskBatchStride + (long)(last % plan.Heads) * plan.MaskHeadStride + (long)plan.T * plan.S;
    }

    /// <summary>Loads (compiles) the four kernels.</summary>
    public AttentionKernels(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _accelerator = accelerator;
        if (!CanRunOn(accelerator))
            throw new NotSupportedException($"attention: the accelerator allows {accelerator.MaxNumThreadsPerGroup} threads per group; " +
                $"the kernels need {AttentionFlash.ForwardThreads}");
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, AttentionArgs>(AttentionFlash.Forward);
        _rowDot = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AttentionFlash.RowDot);
        _queryGradient = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionFlash.QueryGradient);
        _keyValueGradient = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AttentionArgs>(AttentionFlash.KeyValueGradient);
    }

    /// <summary>True when the fused kernels handle this shape (head sizes up to <see cref="MaxHead"/>).</summary>
    public static bool Supports(AttentionPlan plan) => plan.D is > 0 and <= MaxHead && plan.Dv is > 0 and <= MaxHead;

    /// <summary>
    /// o = softmax(scale·q·kᵀ + mask [+ causal −∞]) · v, and lse = the per-row logsumexp of those scores
    /// (what the backward pass needs instead of the probabilities). <paramref name="mask"/> is null for no mask.
    /// </summary>
    public void Forward(ArrayView1D<float, Stride1D.Dense> q, ArrayView1D<float, Stride1D.Dense> k, ArrayView1D<float, Stride1D.Dense> v,
        ArrayView1D<float, Stride1D.Dense>? mask, ArrayView1D<float, Stride1D.Dense> o, ArrayView1D<float, Stride1D.Dense> lse, AttentionPlan plan)
    {
        var args = Validate(plan, mask);
        Require("q", q, (long)plan.BatchHeads * plan.T * plan.D);
        Require("k", k, (long)plan.BatchHeads * plan.S * plan.D);
        Require("v", v, (long)plan.BatchHeads * plan.S * plan.Dv);
        Require("o", o, (long)plan.BatchHeads * plan.T * plan.Dv);
        Require("lse", lse, (long)plan.BatchHeads * plan.T);
        if (plan.BatchHeads == 0 || plan.T == 0) return;
        _forward(Config(plan.T, plan.BatchHeads, AttentionFlash.ForwardRows, AttentionFlash.ForwardThreads), q, k, v, MaskView(mask), o, lse, args);
    }

    /// <summary>
    /// dq, dk and dv (overwritten) from the upstream gradient dO, recomputing the probabilities from q, k and
    /// the forward pass's lse. <paramref name="delta"/> is scratch of BatchHeads·T elements (it receives
    /// rowsum(dO ⊙ O)).
    /// </summary>
    public void Backward(ArrayView1D<float, Stride1D.Dense> q, ArrayView1D<float, Stride1D.Dense> k, ArrayView1D<float, Stride1D.Dense> v,
        ArrayView1D<float, Stride1D.Dense>? mask, ArrayView1D<float, Stride1D.Dense> o, ArrayView1D<float, Stride1D.Dense> lse,
        ArrayView1D<float, Stride1D.Dense> dO, ArrayView1D<float, Stride1D.Dense> dq, ArrayView1D<float, Stride1D.Dense> dk,
        ArrayView1D<float, Stride1D.Dense> dv, ArrayView1D<float, Stride1D.Dense> delta, AttentionPlan plan)
    {
        var args = Validate(plan, mask);
        long qSize = (long)plan.BatchHeads * plan.T * plan.D, kSize = (long)plan.BatchHeads * plan.S * plan.D;
        long vSize = (long)plan.BatchHeads * plan.S * plan.Dv, oSize = (long)plan.BatchHeads * plan.T * plan.Dv;
        long rows = (long)plan.BatchHeads * plan.T;
        Require("q", q, qSize);
        Require("k", k, kSize);
        Require("v", v, vSize);
        Require("o", o, oSize);
        Require("lse", lse, rows);
        Require("dO", dO, oSize);
        Require("dq", dq, qSize);
        Require("dk", dk, kSize);
        Require("dv", dv, vSize);
        Require("delta", delta, rows);
        if (plan.BatchHeads == 0) return;
        if (plan.T == 0)
        {
            if (kSize > 0) dk.SubView(0, kSize).MemSetToZero();
            if (vSize > 0) dv.SubView(0, vSize).MemSetToZero();
            return;
        }
        var maskView = MaskView(mask);
        _rowDot((int)rows, dO, o, delta, plan.Dv);
        var rowsConfig = Config(plan.T, plan.BatchHeads, AttentionFlash.BackwardRows, AttentionFlash.BackwardThreads);
        _queryGradient(rowsConfig, q, k, v, maskView, lse, delta, dO, dq, args);
        if (plan.S == 0) return;
        var keysConfig = Config(plan.S, plan.BatchHeads, AttentionFlash.BackwardRows, AttentionFlash.BackwardThreads);
        _keyValueGradient(keysConfig, q, k, v, maskView, lse, delta, dO, dk, dv, args);
    }

    /// <summary>
    /// Grid (⌈rows/rowsPerGroup⌉, batch-heads) of groups of <paramref name="threads"/>, checked against the device's grid
    /// limits.
    /// </summary>
    KernelConfig Config(int rows, int batchHeads, int rowsPerGroup, int threads)
    {
        var grid = new Index2D((rows + rowsPerGroup - 1) / rowsPerGroup, batchHeads);
        var max = _accelerator.MaxGridSize;
        if (grid.X > max.X || grid.Y > max.Y)
            throw new NotSupportedException($"attention: {rows} rows × {batchHeads} batch-heads need a grid of {grid} groups; " +
                $"the device allows {max}");
        return new KernelConfig(grid, new Index2D(threads, 1));
    }

    static ArrayView<float> MaskView(ArrayView1D<float, Stride1D.Dense>? mask) => mask is { } m ? m : ArrayView<float>.Empty;

    static AttentionArgs Validate(AttentionPlan s, ArrayView1D<float, Stride1D.Dense>? mask)
    {
        if (s.BatchHeads < 0 || s.T < 0 || s.S < 0 || s.Heads <= 0 || s.MaskBatchStride < 0 || s.MaskHeadStride < 0)
            throw new ArgumentException($"attention: invalid shape {s}");
        if (!Supports(s)) throw new NotSupportedException($"attention: head sizes D = {s.D}, Dv = {s.Dv} must be in 1…{MaxHead}");
        if (s.Causal && s.S < s.T) throw new ArgumentException($"attention: causal attention needs S ≥ T, got {s}");
        if (s.BatchHeads % s.Heads != 0) throw new ArgumentException($"attention: {s.BatchHeads} batch-heads are not a multiple of {s.Heads} heads");
        if (mask is { } m) Require("mask", m, MaskExtent(s));
        if ((long)s.BatchHeads * Math.Max(s.T, s.S) * Math.Max(Math.Max(s.D, s.Dv), s.S) > int.MaxValue)
            throw new ArgumentException($"attention: {s} exceeds 2³¹ elements");
        return new AttentionArgs(s.BatchHeads, s.T, s.S, s.D, s.Dv, s.Causal ? 1 : 0, s.Scale,
            s.Heads, s.MaskBatchStride, s.MaskHeadStride, mask is null ? 0 : 1);
    }

    static void Require(string name, ArrayView1D<float, Stride1D.Dense> view, long length)
    {
        if (view.Length < length) throw new ArgumentException($"attention: {name} has {view.Length} elements, needs {length}");
    }
}
