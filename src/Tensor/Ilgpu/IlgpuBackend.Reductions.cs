using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

public sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float> _sumRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _maxRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int> _argMaxRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float, int> _reduceColumns;

    static void LoadReductionKernels(Accelerator acc,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float> sumRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> maxRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int> argMaxRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float, int> reduceColumns)
    {
        sumRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float>(RowKernels.SumRows);
        maxRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(RowKernels.MaxRows);
        argMaxRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int>(RowKernels.ArgMaxRows);
        reduceColumns = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float, int>(RowKernels.ReduceColumns);
    }

    /// <inheritdoc/>
    public void Sum(Tensor x, Tensor y, Reduction r, float scale) => Reduce(x, y, r, scale, 0, "sum");

    /// <inheritdoc/>
    public void Max(Tensor x, Tensor y, Reduction r) => Reduce(x, y, r, 1f, 1, "max");

    /// <inheritdoc/>
    public void ArgMax(Tensor x, Tensor y, Reduction r) => Reduce(x, y, r, 1f, 2, "argmax");

    /// <summary>mode 0: scaled sum, 1: max, 2: argmax. Rows (inner = 1) reduce in a group; columns one thread per output.</summary>
    void Reduce(Tensor x, Tensor y, Reduction r, float scale, int mode, string op)
    {
        long n = (long)r.Outer * r.Length * r.Inner, outputs = (long)r.Outer * r.Inner;
        Require(mode == 0 || r.Length > 0, op, "cannot reduce an empty axis");
        Bind();
        var xv = View(x, n, op);
        var yv = View(y, outputs, op);
        if (r.Inner == 1)
        {
            switch (mode)
            {
                case 0: _sumRows(Rows(r.Outer), xv, yv, r.Outer, r.Length, scale); break;
                case 1: _maxRows(Rows(r.Outer), xv, yv, r.Outer, r.Length); break;
                default: _argMaxRows(Rows(r.Outer), xv, yv.Cast<int>(), r.Outer, r.Length); break;
            }
            return;
        }
        _reduceColumns(Elements(outputs), xv, yv, yv.Cast<int>(), r.Outer, r.Length, r.Inner, scale, mode);
    }
}
