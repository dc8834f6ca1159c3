using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

public sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> _softmax;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> _layerNorm;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> _gather, _scatterAdd;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> _crossEntropy;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _biasGelu;

    static void LoadNeuralNetKernels(Accelerator acc,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> softmax,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> layerNorm,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> gather,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> scatterAdd,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> crossEntropy,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> biasGelu)
    {
        softmax = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(RowKernels.Softmax);
        layerNorm = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(RowKernels.LayerNorm);
        gather = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(ElementwiseKernels.Gather);
        scatterAdd = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(ElementwiseKernels.ScatterAdd);
        crossEntropy = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(RowKernels.CrossEntropy);
        biasGelu = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.BiasGelu);
    }

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, int rows, int cols, bool log)
    {
        const string op = "softmax";
        long n = (long)rows * cols;
        Bind();
        _softmax(Rows(rows), View(x, n, op), View(y, n, op), rows, cols, log ? 1 : 0);
    }

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
        _scatterAdd(Elements(cols), View(src, (long)rows * cols, op), Ints(ids, rows, op), View(table, table.Numel, op), rows, cols);
    }

    /// <inheritdoc/>
    public void CrossEntropy(Tensor logits, Tensor targets, Tensor losses, int rows, int cols, int ignoreIndex)
    {
        const string op = "cross_entropy";
        Bind();
        // Targets were range-checked above the backend (Tensor.CrossEntropyRows).
        _crossEntropy(Rows(rows), View(logits, (long)rows * cols, op), Ints(targets, rows, op), View(losses, rows, op), rows, cols, ignoreIndex);
    }

    /// <inheritdoc/>
    public void BiasGelu(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        const string op = "bias_gelu";
        long n = (long)rows * cols;
        Bind();
        _biasGelu(Elements(n), View(x, n, op), View(bias, cols, op), View(y, n, op), (int)n, cols);
    }
}
