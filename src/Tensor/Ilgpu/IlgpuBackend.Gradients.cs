using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _softmaxBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _layerNormBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int> _layerNormParamPartials;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float> _crossEntropyBackward;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWArgs> _adamW;

    static void LoadGradientKernels(Accelerator acc,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> softmaxBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> layerNormBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int> layerNormParamPartials,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float> crossEntropyBackward,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWArgs> adamW)
    {
        softmaxBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(RowKernels.SoftmaxBackward);
        layerNormBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(RowKernels.LayerNormBackward);
        layerNormParamPartials = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(RowKernels.LayerNormParamPartials);
        crossEntropyBackward = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float>(RowKernels.CrossEntropyBackward);
        adamW = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWArgs>(ElementwiseKernels.AdamW);
    }

    /// <inheritdoc/>
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int cols, bool log)
    {
        const string op = "softmax_backward";
        long n = (long)rows * cols;
        Bind();
        _softmaxBackward(Rows(rows), View(y, n, op), View(dy, n, op), View(dx, n, op), rows, cols, log ? 1 : 0);
    }

    /// <inheritdoc/>
    public void LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight, Tensor dbias, int rows, int cols)
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

    /// <inheritdoc/>
    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dlogits, int rows, int cols, int ignoreIndex, float scale)
    {
        const string op = "cross_entropy_backward";
        long n = (long)rows * cols;
        Bind();
        _crossEntropyBackward(Rows(rows), View(logits, n, op), Ints(targets, rows, op), View(dlogits, n, op), rows, cols, ignoreIndex, scale);
    }

    /// <inheritdoc/>
    public void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep h)
    {
        const string op = "adamw";
        var args = new AdamWArgs
        {
            Beta1 = h.Beta1, Beta2 = h.Beta2, Eps = h.Eps, Decay = 1f - h.Lr * h.WeightDecay,
            Step = h.Lr / h.BiasCorrection1, InvSqrtBc2 = 1f / MathF.Sqrt(h.BiasCorrection2),
        };
        Bind();
        // One fused launch per parameter: the four tensors of a slot are separate buffers, and a kernel
        // cannot take a list of views.
        foreach (var s in slots)
        {
            int n = s.Param.Numel;
            if (n == 0) continue;
            _adamW(Elements(n), View(s.Param, n, op), View(s.Grad, n, op), View(s.M, n, op), View(s.V, n, op), n, args);
        }
    }
}
