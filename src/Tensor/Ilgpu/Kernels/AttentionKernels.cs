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
        LaunchForward(q, k, v, MaskView(mask), o, lse, args);
    }

    void LaunchForward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> o,
        ArrayView<float> lse, AttentionArgs args) =>
        _forward(Config(args.T, args.BatchHeads, AttentionFlash.ForwardRows, AttentionFlash.ForwardThreads), q, k, v, mask, o, lse, args);

    /// <summary>
    /// The args of a tree's trunk: each of the n queries of a batch-head against the first <paramref name="trunk"/> of its
    /// n keys, causal inside the trunk (query i &lt; trunk sees keys 0…i, every later query the whole trunk).
    /// </summary>
    static AttentionArgs TrunkArgs(int batchHeads, int n, int trunk, int d, int dv, float scale)
    {
        if (batchHeads <= 0 || n <= 0 || trunk <= 0 || trunk > n || d is <= 0 or > MaxHead || dv is <= 0 or > MaxHead
            || (long)batchHeads * n * Math.Max(d, dv) > int.MaxValue)
            throw new ArgumentException($"attention: invalid trunk shape: {batchHeads} batch-heads, {n} positions, trunk {trunk}, d {d}, dv {dv}");
        return new AttentionArgs(batchHeads, n, trunk, d, dv, AttentionArgs.CausalFromFirstKey, scale, 1, 0, 0, 0, KeyRows: n);
    }

    /// <summary>
    /// o and lse of every query over a tree's trunk alone (<see cref="TrunkArgs"/>): complete for the trunk's own queries,
    /// the starting point of the walk over the other ancestors for the rest. q and k are [batchHeads, n, d], v [.., dv].
    /// </summary>
    public void TrunkForward(ArrayView1D<float, Stride1D.Dense> q, ArrayView1D<float, Stride1D.Dense> k, ArrayView1D<float, Stride1D.Dense> v,
        ArrayView1D<float, Stride1D.Dense> o, ArrayView1D<float, Stride1D.Dense> lse, int batchHeads, int n, int trunk, int d, int dv, float scale)
    {
        var args = TrunkArgs(batchHeads, n, trunk, d, dv, scale);
        long rows = (long)batchHeads * n;
        Require("q", q, rows * d);
        Require("k", k, rows * d);
        Require("v", v, rows * dv);
        Require("o", o, rows * dv);
        Require("lse", lse, rows);
        LaunchForward(q, k, v, ArrayView<float>.Empty, o, lse, args);
    }

    /// <summary>
    /// The trunk's share of tree attention's gradients, from the whole attention's o and lse: dq of every query over the
    /// trunk keys (overwritten), and dk, dv of the trunk's keys (their rows only). delta receives rowsum(dO ⊙ O).
    /// </summary>
    public void TrunkBackward(ArrayView1D<float, Stride1D.Dense> q, ArrayView1D<float, Stride1D.Dense> k, ArrayView1D<float, Stride1D.Dense> v,
        ArrayView1D<float, Stride1D.Dense> o, ArrayView1D<float, Stride1D.Dense> lse, ArrayView1D<float, Stride1D.Dense> dO,
        ArrayView1D<float, Stride1D.Dense> dq, ArrayView1D<float, Stride1D.Dense> dk, ArrayView1D<float, Stride1D.Dense> dv,
        ArrayView1D<float, Stride1D.Dense> delta, int batchHeads, int n, int trunk, int d, int dvDim, float scale)
    {
        var args = TrunkArgs(batchHeads, n, trunk, d, dvDim, scale);
        long rows = (long)batchHeads * n;
        Require("q", q, rows * d);
        Require("k", k, rows * d);
        Require("v", v, rows * dvDim);
        Require("o", o, rows * dvDim);
        Require("lse", lse, rows);
        Require("dO", dO, rows * dvDim);
        Require("dq", dq, rows * d);
        Require("dk", dk, rows * d);
        Require("dv", dv, rows * dvDim);
        Require("delta", delta, rows);
        LaunchBackward(q, k, v, ArrayView<float>.Empty, o, lse, dO, dq, dk, dv, delta, args);
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
        LaunchBackward(q, k, v, MaskView(mask), o, lse, dO, dq, dk, dv, delta, args);
    }

    void LaunchBackward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> o,
        ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> delta,
        AttentionArgs args)
    {
        _rowDot(args.BatchHeads * args.T, dO, o, delta, args.Dv);
        var rowsConfig = Config(args.T, args.BatchHeads, AttentionFlash.BackwardRows, AttentionFlash.BackwardThreads);
        _queryGradient(rowsConfig, q, k, v, mask, lse, delta, dO, dq, args);
        if (args.S == 0) return;
        var keysConfig = Config(args.S, args.BatchHeads, AttentionFlash.BackwardRows, AttentionFlash.BackwardThreads);
        _keyValueGradient(keysConfig, q, k, v, mask, lse, delta, dO, dk, dv, args);
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
        return new AttentionArgs(s.BatchHeads, s.T, s.S, s.D, s.Dv, s.Causal ? AttentionArgs.CausalToLastKey : AttentionArgs.NotCausal,
            s.Scale, s.Heads, s.MaskBatchStride, s.MaskHeadStride, mask is null ? 0 : 1, KeyRows: s.S);
    }

    static void Require(string name, ArrayView1D<float, Stride1D.Dense> view, long length)
    {
        if (view.Length < length) throw new ArgumentException($"attention: {name} has {view.Length} elements, needs {length}");
    }
}
