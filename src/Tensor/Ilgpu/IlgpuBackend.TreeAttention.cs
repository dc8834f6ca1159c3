using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

/// <summary>
/// Tree attention on the device: each query visits only its ancestors. Where the flash kernels run, a tree's trunk (the
/// prefix every later position descends from: a packed group's prompt) is attended as dense tiles by them
/// (<see cref="AttentionKernels.TrunkForward"/>), and <see cref="TreeAttentionKernels"/> walk the rest; elsewhere the walk
/// covers every ancestor.
/// </summary>
internal sealed partial class IlgpuBackend : ITreeAttention
{
    /// <summary>The loaded tree kernels; compiled on the first tree attention, not when the backend starts.</summary>
    sealed class TreeKernels(Accelerator accelerator)
    {
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
            ArrayView<int>, ArrayView<float>, ArrayView<float>, TreeArgs> Forward =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>,
                ArrayView<float>, ArrayView<float>, TreeArgs>(TreeAttentionKernels.Forward);

        public readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> Delta =
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AttentionFlash.RowDot);

        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TreeArgs> QueryGradient =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, TreeArgs>(TreeAttentionKernels.QueryGradient);

        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TreeArgs> KeyValueGradient =
            accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TreeArgs>(
                TreeAttentionKernels.KeyValueGradient);
    }

    TreeKernels? _tree;

    TreeKernels Tree => _tree ??= new TreeKernels(_accelerator);

    /// <summary>Guards the uploaded tree from its upload through the launches that read it.</summary>
    readonly Lock _treeLock = new();
    TreeMask? _uploadedTree;
    MemoryBuffer1D<float, Stride1D.Dense>? _treeIndex;
    ArrayView<int>[] _treeLists = [];

    /// <summary>How many times a tree's index arrays were copied to the device.</summary>
    internal int TreeUploads { get; private set; }

    /// <summary>
    /// The device copy of a tree's runs (offsets, starts, ends) and attenders (offsets, queries). Every layer of a packed
    /// group, forward and backward, walks the same tree: it is uploaded once, on first use, and kept until another tree
    /// comes, the pool is trimmed, or the backend is disposed.
    /// </summary>
    ArrayView<int>[] TreeLists(TreeMask tree)
    {
        if (ReferenceEquals(tree, _uploadedTree)) return _treeLists;
        ReleaseTree();
        var (attenderOffsets, attenders) = tree.Attenders;
        int words = tree.RunOffsetsAll.Length + tree.RunStartsAll.Length + tree.RunEndsAll.Length + attenderOffsets.Length + attenders.Length;
        _treeIndex = Pool.Rent(words + 5);
        _treeLists = Upload(_treeIndex, tree.RunOffsetsAll, tree.RunStartsAll, tree.RunEndsAll, attenderOffsets, attenders);
        _uploadedTree = tree;
        TreeUploads++;
        return _treeLists;
    }

    void ReleaseTree()
    {
        if (_treeIndex is { } index) Pool.Return(index);
        _treeIndex = null;
        _uploadedTree = null;
        _treeLists = [];
    }

    /// <summary>Copies <paramref name="parts"/> into one pooled buffer, back to back, and returns a view of each.</summary>
    ArrayView<int>[] Upload(MemoryBuffer1D<float, Stride1D.Dense> buffer, params int[][] parts)
    {
        ArrayView<float> raw = buffer.View;
        var all = raw.Cast<int>();
        var views = new ArrayView<int>[parts.Length];
        long at = 0;
        for (int p = 0; p < parts.Length; p++)
        {
            // An empty part still gets a one-element view, so that no kernel argument is a zero-length view.
            views[p] = all.SubView(at, Math.Max(parts[p].Length, 1));
            if (parts[p].Length > 0) views[p].SubView(0, parts[p].Length).CopyFromCPU(_accelerator.DefaultStream, parts[p]);
            at += Math.Max(parts[p].Length, 1);
        }
        return views;
    }

    /// <summary>
    /// A grid-stride launch of <see cref="AttentionFlash.LanesPerRow"/> lanes per row in groups of one warp: the kernels
    /// shuffle across the warp, and at their 136–189 registers one-warp groups fill an SM best.
    /// </summary>
    KernelConfig TreeRows(long rows)
    {
        int group = Math.Max(_accelerator.WarpSize, AttentionFlash.LanesPerRow);
        long threads = rows * AttentionFlash.LanesPerRow;
        return new((int)Math.Clamp((threads + group - 1) / group, 1, GroupsToFill(group)), group);
    }

    /// <summary>
    /// The launch's sizes, with the device bound; false when there is nothing to compute. The trunk goes to the flash
    /// kernels where they run.
    /// </summary>
    bool Start(TreeMask tree, Tensor q, Tensor v, int batchHeads, float scale, out TreeArgs a, out long rows)
    {
        ArgumentNullException.ThrowIfNull(tree);
        int d = q.Shape[-1], dv = v.Shape[-1];
        int trunk = _attention is not null ? tree.Trunk : 0;
        a = new() { Length = tree.Length, BatchHeads = batchHeads, Dim = d, ValueDim = dv, Scale = scale, Trunk = trunk };
        rows = (long)batchHeads * a.Length;
        if (rows == 0) return false;
        Bind();
        return true;
    }

    /// <inheritdoc/>
    /// <remarks>Each of a row's four lanes holds a quarter of it in registers (<see cref="RowQuarter"/>): up to 64 floats.</remarks>
    public bool SupportsTreeAttention(int d, int dv) => d is > 0 and <= AttentionFlash.MaxHead && dv is > 0 and <= AttentionFlash.MaxHead;

    /// <inheritdoc/>
    public void TreeAttentionForward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, int batchHeads, float scale)
    {
        const string op = "tree_attention";
        if (!Start(tree, q, v, batchHeads, scale, out var a, out long rows)) return;
        var (qv, kv, vv) = (View(q, rows * a.Dim, op), View(k, rows * a.Dim, op), View(v, rows * a.ValueDim, op));
        var (ov, lv) = (View(o, rows * a.ValueDim, op), View(lse, rows, op));
        if (a.Trunk > 0) _attention!.TrunkForward(qv, kv, vv, ov, lv, a.BatchHeads, a.Length, a.Trunk, a.Dim, a.ValueDim, a.Scale);
        lock (_treeLock)
        {
            var runs = TreeLists(tree);
            Tree.Forward(TreeRows(rows), qv, kv, vv, runs[0], runs[1], runs[2], ov, lv, a);
        }
    }

    /// <inheritdoc/>
    public void TreeAttentionBackward(Tensor q, Tensor k, Tensor v, TreeMask tree, Tensor o, Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv,
        int batchHeads, float scale)
    {
        const string op = "tree_attention_backward";
        if (!Start(tree, q, v, batchHeads, scale, out var a, out long rows)) return;
        var kernels = Tree;
        var delta = Pool.Rent((int)Math.Max(rows, 1));
        try
        {
            var qv = View(q, rows * a.Dim, op);
            var kv = View(k, rows * a.Dim, op);
            var vv = View(v, rows * a.ValueDim, op);
            var lv = View(lse, rows, op);
            var gv = View(dO, rows * a.ValueDim, op);
            var ov = View(o, rows * a.ValueDim, op);
            var (dqv, dkv, dvv) = (View(dq, rows * a.Dim, op), View(dk, rows * a.Dim, op), View(dv, rows * a.ValueDim, op));
            var dl = delta.View.SubView(0, rows);
            // The trunk's kernels compute delta; the walk reads it.
            if (a.Trunk > 0)
                _attention!.TrunkBackward(qv, kv, vv, ov, lv, gv, dqv, dkv, dvv, dl, a.BatchHeads, a.Length, a.Trunk, a.Dim, a.ValueDim, a.Scale);
            else kernels.Delta(checked((int)rows), gv, ov, dl, a.ValueDim);
            lock (_treeLock)
            {
                var lists = TreeLists(tree);
                kernels.QueryGradient(TreeRows(rows), qv, kv, vv, lv, gv, dl, lists[0], lists[1], lists[2], dqv, a);
                kernels.KeyValueGradient(TreeRows(rows), qv, kv, vv, lv, gv, dl, lists[3], lists[4], dkv, dvv, a);
            }
        }
        finally
        {
            Pool.Return(delta);
        }
    }
}
