namespace Engine;

/// <summary>
/// NumPy broadcasting of several inputs to one output, with runs of dimensions that stay contiguous in
/// every input merged, so backends iterate over as few dimensions as possible. A stride of 0 repeats an
/// input along that dimension. The last dimension always has stride 0 or 1 in every input.
/// </summary>
internal sealed class Broadcast
{
    Broadcast(Shape output, int[] shape, int[][] strides)
    {
        Output = output;
        Shape = shape;
        Strides = strides;
    }

    /// <summary>The broadcast output shape, uncoalesced.</summary>
    public Shape Output { get; }

    /// <summary>The coalesced iteration shape (rank ≥ 1).</summary>
    public int[] Shape { get; }

    /// <summary>Per input, its stride along each dimension of <see cref="Shape"/>.</summary>
    public int[][] Strides { get; }

    /// <summary>Rows of the innermost dimension.</summary>
    public int Rows => Output.Numel / Inner;

    /// <summary>Length of the innermost dimension.</summary>
    public int Inner => Shape[^1];

    /// <summary>The broadcast shape of <paramref name="shapes"/>, or an error naming <paramref name="op"/> and every shape.</summary>
    public static Shape ResultShape(string op, params ReadOnlySpan<Shape> shapes)
    {
        int rank = 0;
        foreach (var s in shapes) rank = Math.Max(rank, s.Rank);
        var dims = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            int size = 1;
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Rank);
                if (k < 0) continue;
                int n = s.Dims[k];
                if (n == size || n == 1) continue;
                if (size != 1) throw new TensorShapeException(op,
                    $"shapes {string.Join(" and ", shapes.ToArray())} cannot be broadcast together (dimension {d - rank}: {size} vs {n})");
                size = n;
            }
            dims[d] = size;
        }
        return new Shape(dims);
    }

    /// <summary>Plans broadcasting <paramref name="inputs"/> to their common shape.</summary>
    public static Broadcast Create(string op, params ReadOnlySpan<Shape> inputs)
    {
        var output = ResultShape(op, inputs);
        int rank = output.Rank;
        var full = new int[inputs.Length][];
        for (int t = 0; t < inputs.Length; t++)
        {
            var s = inputs[t];
            full[t] = new int[rank];
            int stride = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                int k = d - (rank - s.Rank);
                int n = k >= 0 ? s.Dims[k] : 1;
                full[t][d] = n == 1 ? 0 : stride;
                stride *= n;
            }
        }

        // Merge dimension d into d+1 when every input steps through both as one run.
        var shape = new List<int>();
        var strides = new List<int>[inputs.Length];
        for (int t = 0; t < inputs.Length; t++) strides[t] = [];
        for (int d = 0; d < rank; d++)
        {
            int n = output.Dims[d];
            if (n == 1) continue;
            bool merge = shape.Count > 0;
            for (int t = 0; t < inputs.Length && merge; t++)
                merge = strides[t][^1] == full[t][d] * n;
            if (merge)
            {
                shape[^1] *= n;
                for (int t = 0; t < inputs.Length; t++) strides[t][^1] = full[t][d];
            }
            else
            {
                shape.Add(n);
                for (int t = 0; t < inputs.Length; t++) strides[t].Add(full[t][d]);
            }
        }
        if (shape.Count == 0)
        {
            shape.Add(output.Numel == 0 ? 0 : 1);
            for (int t = 0; t < inputs.Length; t++) strides[t].Add(0);
        }
        return new Broadcast(output, [.. shape], [.. strides.Select(s => s.ToArray())]);
    }

    /// <summary>The element offset of input <paramref name="input"/> at the start of innermost row <paramref name="row"/>.</summary>
    public int RowOffset(int input, int row)
    {
        int offset = 0;
        int[] s = Strides[input];
        for (int d = Shape.Length - 2; d >= 0; d--)
        {
            int n = Shape[d];
            offset += row % n * s[d];
            row /= n;
        }
        return offset;
    }
}
