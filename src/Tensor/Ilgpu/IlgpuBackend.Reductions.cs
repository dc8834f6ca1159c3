using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float> _sumRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _maxRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int> _argMaxRows;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float, int> _reduceColumns;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _columnPartialSums;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, int> _columnSums;

    static void LoadReductionKernels(Accelerator acc,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float> sumRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> maxRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, int> argMaxRows,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float, int> reduceColumns,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int, int> columnPartialSums,
        out Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, int> columnSums)
    {
        sumRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float>(RowKernels.SumRows);
        maxRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(RowKernels.MaxRows);
        argMaxRows = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, int>(RowKernels.ArgMaxRows);
        reduceColumns = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, float,
            int>(RowKernels.ReduceColumns);
        columnPartialSums = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(RowKernels.ColumnPartialSums);
        columnSums = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, int>(RowKernels.ColumnSums);
    }

    /// <inheritdoc/>
    public void Sum(Tensor x, Tensor y, Reduction r, float scale) => Reduce(x, y, r, scale, 0, "sum");

    /// <inheritdoc/>
    public void Max(Tensor x, Tensor y, Reduction r) => Reduce(x, y, r, 1f, 1, "max");

    /// <inheritdoc/>
    public void ArgMax(Tensor x, Tensor y, Reduction r) => Reduce(x, y, r, 1f, 2, "argmax");

    /// <summary>
    /// mode 0: scaled sum, 1: max, 2: argmax. Rows (inner = 1) reduce in a group. Columns: one thread per
    /// output, except sums over long axes into few outputs (bias gradients: 768 columns of 8192 rows), which
    /// would leave a GPU nearly idle; those take two passes over row chunks (<see cref="ColumnChunks"/>).
    /// </summary>
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
        var (chunkRows, chunks) = ColumnChunks(r.Length, outputs);
        if (mode != 0 || chunks == 1 || outputs == 0)
        {
            _reduceColumns(Elements(outputs), xv, yv, yv.Cast<int>(), r.Outer, r.Length, r.Inner, scale, mode);
            return;
        }
        // Kernels run in stream order, so the scratch can go back to the pool as soon as they are queued.
        var partial = Pool.Rent(checked(chunks * (int)outputs));
        try
        {
            _columnPartialSums(Elements((long)chunks * outputs), xv, partial.View, r.Outer, r.Length, r.Inner, chunkRows, chunks);
            _columnSums(Elements(outputs), partial.View, yv, chunks, (int)outputs, scale, 0);
        }
        finally
        {
            Pool.Return(partial);
        }
    }

    /// <summary>
    /// How a two-pass column sum splits <paramref name="length"/> rows: chunks of at least 16 rows, and only as
    /// many as it takes to give about 64K threads. It depends on the shapes alone, so every run and every
    /// device adds in the same order.
    /// </summary>
    internal static (int ChunkRows, int Chunks) ColumnChunks(int length, long outputs)
    {
        int chunks = (int)Math.Clamp(65536 / Math.Max(outputs, 1), 1, Math.Max(1, (length + 15) / 16));
        int chunkRows = Math.Max(1, (length + chunks - 1) / chunks);
        return (chunkRows, Math.Max(1, (length + chunkRows - 1) / chunkRows));
    }
}
