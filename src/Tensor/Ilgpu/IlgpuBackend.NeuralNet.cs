using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> _softmax;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _softmaxBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, int, float> _layerNorm;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, int> _layerNormBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int,
        int> _layerNormParamPartials;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> _gather;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int> _scatterAdd;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> _crossEntropy;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float> _crossEntropyBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _biasGelu;

    static void LoadNeuralNetKernels(Accelerator acc,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> softmax,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> softmaxBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, float>
            layerNorm,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int>
            layerNormBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>
            layerNormParamPartials,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> gather,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int> scatterAdd,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> crossEntropy,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float> crossEntropyBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> biasGelu)
    {
        softmax = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(RowKernels.Softmax);
        softmaxBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(RowKernels.SoftmaxBackward);
        layerNorm = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int,
            float>(RowKernels.LayerNorm);
        layerNormBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>,
            int, int>(RowKernels.LayerNormBackward);
        layerNormParamPartials = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int,
            int, int>(RowKernels.LayerNormParamPartials);
        gather = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(ElementwiseKernels.Gather);
        scatterAdd = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int>(
            ElementwiseKernels.ScatterAdd);
        crossEntropy = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(RowKernels.CrossEntropy);
        crossEntropyBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int,
            float>(RowKernels.CrossEntropyBackward);
        biasGelu = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.BiasGelu);
    }

    // ---- softmax --------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, int rows, int cols, bool log)
    {
        const string op = "softmax";
        long n = (long)rows * cols;
        Bind();
        _softmax(Rows(rows), View(x, n, op), View(y, n, op), rows, cols, log ? 1 : 0);
    }

    /// <inheritdoc/>
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int cols, bool log)
    {
        const string op = "softmax_backward";
        long n = (long)rows * cols;
        Bind();
        _softmaxBackward(Rows(rows), View(y, n, op), View(dy, n, op), View(dx, n, op), rows, cols, log ? 1 : 0);
    }

    // ---- layer norm -----------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void LayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, float eps)
    {
        const string op = "layer_norm";
        long n = (long)rows * cols;
        Bind();
        _layerNorm(Rows(rows), View(x, n, op), View(weight, cols, op), View(bias, cols, op), View(y, n, op),
            View(mean, rows, op), View(rstd, rows, op), rows, cols, eps);
    }

    /// <inheritdoc/>
    public void LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight, Tensor dbias,
        int rows, int cols)
    {
        const string op = "layer_norm_backward";
        long n = (long)rows * cols;
        Bind();
        var xv = View(x, n, op);
        var mv = View(mean, rows, op);
        var sv = View(rstd, rows, op);
        var gv = View(dy, n, op);
        _layerNormBackward(Rows(rows), xv, View(weight, cols, op), mv, sv, gv, View(dx, n, op), rows, cols);
        if (rows == 0 || cols == 0) return;
        // dweight and dbias are column sums over the rows: two passes over row chunks, in a fixed order.
        var (chunkRows, chunks) = ColumnChunks(rows, cols);
        var partial = Pool.Rent(checked(2 * chunks * cols));
        try
        {
            long half = (long)chunks * cols;
            _layerNormParamPartials(Elements(half), xv, mv, sv, gv, partial.View, rows, cols, chunkRows, chunks);
            _columnSums(Elements(cols), partial.View.SubView(0, half), View(dweight, cols, op), chunks, cols, 1f, 1);
            _columnSums(Elements(cols), partial.View.SubView(half, half), View(dbias, cols, op), chunks, cols, 1f, 1);
        }
        finally
        {
            Pool.Return(partial);
        }
    }

    // ---- embedding ------------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Gather(Tensor table, Tensor ids, Tensor y, int rows, int cols)
    {
        const string op = "embedding";
        Require(cols > 0 && table.Numel % cols == 0, op, $"table {table.Shape} does not have rows of {cols}");
        Bind();
        // Ids were range-checked against the table above the backend (Tensor.Embedding).
        _gather(Elements((long)rows * cols), View(table, table.Numel, op), Ints(ids, rows, op), View(y, (long)rows * cols, op), rows, cols);
    }

    /// <inheritdoc/>
    public void ScatterAdd(Tensor src, Tensor ids, Tensor table, int rows, int cols)
    {
        const string op = "embedding_scatter_add";
        Require(cols > 0 && table.Numel % cols == 0, op, $"table {table.Shape} does not have rows of {cols}");
        Bind();
        if (rows == 0 || cols == 0) return;
        // The rows grouped by id on the host (ids are one int per row): sorting (id, row) keys keeps each id's rows in order.
        // The host copy of the ids is the one Tensor.EmbeddingScatterAdd range-checked them with (read only).
        var hostIds = ids.HostInts();
        var keys = new long[rows];
        for (int r = 0; r < rows; r++) keys[r] = ((long)hostIds[r] << 32) | (uint)r;
        Array.Sort(keys);
        var order = new int[rows];
        var starts = new List<int>();
        var unique = new List<int>();
        for (int k = 0; k < rows; k++)
        {
            int id = (int)(keys[k] >> 32);
            order[k] = (int)(keys[k] & 0xFFFFFFFF);
            if (k == 0 || id != (int)(keys[k - 1] >> 32))
            {
                starts.Add(k);
                unique.Add(id);
            }
        }
        starts.Add(rows);
        int segments = unique.Count;
        var index = Pool.Rent(rows + 2 * segments + 1);
        try
        {
            var v = Upload(index, order, starts.ToArray(), unique.ToArray());
            _scatterAdd(Elements((long)segments * cols), View(src, (long)rows * cols, op), v[0], v[1], v[2], View(table, table.Numel, op),
                segments, cols);
        }
        finally
        {
            Pool.Return(index);
        }
    }

    // ---- cross-entropy --------------------------------------------------------------------------------

    /// <inheritdoc/>
    public void CrossEntropy(Tensor logits, Tensor targets, Tensor losses, int rows, int cols, int ignoreIndex)
    {
        const string op = "cross_entropy";
        Bind();
        // Targets were range-checked above the backend (Tensor.CrossEntropyRows).
        _crossEntropy(Rows(rows), View(logits, (long)rows * cols, op), Ints(targets, rows, op), View(losses, rows, op), rows, cols, ignoreIndex);
    }

    /// <inheritdoc/>
    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dlogits, int rows, int cols, int ignoreIndex, float scale)
    {
        const string op = "cross_entropy_backward";
        long n = (long)rows * cols;
        Bind();
        _crossEntropyBackward(Rows(rows), View(logits, n, op), Ints(targets, rows, op), View(dlogits, n, op), rows, cols, ignoreIndex, scale);
    }

    // ---- bias + gelu (its backward is GeluGrad, an element-wise op) -----------------------------------

    /// <inheritdoc/>
    public void BiasGelu(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        const string op = "bias_gelu";
        long n = (long)rows * cols;
        Bind();
        _biasGelu(Elements(n), View(x, n, op), View(bias, cols, op), View(y, n, op), (int)n, cols);
    }
}
