namespace Engine.Tests.Support;

/// <summary>
/// Plain float64 loops that define what every Tensor op should compute. Broadcasting here is NumPy's rule
/// written out per element (unravel the output index, clamp size-1 axes to 0), independently of
/// src/Tensor/Broadcast.cs, so a bug there cannot hide in the reference too.
/// </summary>
public static class Reference
{
    // ---- shapes ---------------------------------------------------------------------------------

    public static int Numel(int[] shape)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    /// <summary>NumPy's broadcast shape, or null when the shapes are incompatible.</summary>
    public static int[]? BroadcastShape(params int[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var y = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            int size = 1;
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Length);
                if (k < 0 || s[k] == 1) continue;
                if (size != 1 && size != s[k]) return null;
                size = s[k];
            }
            y[d] = size;
        }
        return y;
    }

    /// <summary>The flat index into an input of <paramref name="shape"/> for output multi-index <paramref name="idx"/>.</summary>
    static int SourceIndex(int[] idx, int[] shape)
    {
        int off = idx.Length - shape.Length, flat = 0;
        for (int k = 0; k < shape.Length; k++) flat = flat * shape[k] + (shape[k] == 1 ? 0 : idx[k + off]);
        return flat;
    }

    static void Unravel(int flat, int[] shape, int[] idx)
    {
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
    }

    /// <summary>y = f(inputs...) with NumPy broadcasting.</summary>
    public static double[] Broadcasted(Func<double[], double> f, int[] outShape, params (double[] Data, int[] Shape)[] inputs)
    {
        int n = Numel(outShape);
        var y = new double[n];
        var idx = new int[outShape.Length];
        var args = new double[inputs.Length];
        for (int i = 0; i < n; i++)
        {
            Unravel(i, outShape, idx);
            for (int t = 0; t < inputs.Length; t++) args[t] = inputs[t].Data[SourceIndex(idx, inputs[t].Shape)];
            y[i] = f(args);
        }
        return y;
    }

    public static double[] Binary(Func<double, double, double> f, double[] a, int[] sa, double[] b, int[] sb, out int[] shape)
    {
        shape = BroadcastShape(sa, sb) ?? throw new ArgumentException("reference: shapes do not broadcast");
        return Broadcasted(v => f(v[0], v[1]), shape, (a, sa), (b, sb));
    }

    // ---- scalar functions -----------------------------------------------------------------------

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as written (no identity used).</summary>
    public static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double Relu(double x) => x > 0 ? x : 0;

    public static double[] Map(double[] x, Func<double, double> f) => Array.ConvertAll(x, v => f(v));

    // ---- reductions -----------------------------------------------------------------------------

    /// <summary>Reduces <paramref name="axis"/> of x with fold(acc, v) starting from init; returns the reduced data (axis removed).</summary>
    public static double[] Reduce(double[] x, int[] shape, int axis, Func<int, double, double, double> fold, Func<double[], double> init,
        out int[] outShape)
    {
        int outer = 1, inner = 1, n = shape[axis];
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        outShape = [.. shape[..axis], .. shape[(axis + 1)..]];
        var y = new double[outer * inner];
        var column = new double[n];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                for (int j = 0; j < n; j++) column[j] = x[(o * n + j) * inner + i];
                double acc = init(column);
                for (int j = 0; j < n; j++) acc = fold(j, acc, column[j]);
                y[o * inner + i] = acc;
            }
        return y;
    }

    public static double[] Sum(double[] x, int[] shape, int axis) => Reduce(x, shape, axis, (_, a, v) => a + v, _ => 0, out _);

    public static double[] Max(double[] x, int[] shape, int axis) =>
        Reduce(x, shape, axis, (_, a, v) => double.IsNaN(a) || double.IsNaN(v) ? double.NaN : Math.Max(a, v), _ => double.NegativeInfinity, out _);

    /// <summary>Index of the first maximum (first NaN if any).</summary>
    public static double[] ArgMax(double[] x, int[] shape, int axis) => Reduce(x, shape, axis, (_, a, _) => a, col =>
    {
        int best = 0;
        for (int j = 0; j < col.Length; j++)
        {
            if (double.IsNaN(col[j])) return j;
            if (col[j] > col[best]) best = j;
        }
        return best;
    }, out _);

    // ---- neural-net ops -------------------------------------------------------------------------

    public static double[] Softmax(double[] x, int cols, bool log)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / cols; r++)
        {
            var row = x.AsSpan(r * cols, cols);
            double max = double.NegativeInfinity;
            foreach (double v in row) max = Math.Max(max, v);
            double sum = 0;
            foreach (double v in row) sum += Math.Exp(v - max);
            for (int c = 0; c < cols; c++)
                y[r * cols + c] = log ? row[c] - max - Math.Log(sum) : Math.Exp(row[c] - max) / sum;
        }
        return y;
    }

    public static double[] LayerNorm(double[] x, double[] w, double[] b, int cols, double eps, out double[] mean, out double[] rstd)
    {
        int rows = x.Length / cols;
        var y = new double[x.Length];
        mean = new double[rows];
        rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double m = 0, v = 0;
            for (int c = 0; c < cols; c++) m += x[r * cols + c];
            m /= cols;
            for (int c = 0; c < cols; c++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
            v /= cols;
            double s = 1 / Math.Sqrt(v + eps);
            for (int c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c] - m) * s * w[c] + b[c];
            mean[r] = m;
            rstd[r] = s;
        }
        return y;
    }

    /// <summary>Per-row loss logsumexp(x) − x[target], 0 where the target is ignored.</summary>
    public static double[] CrossEntropyRows(double[] logits, int[] targets, int cols, int ignoreIndex)
    {
        var ls = Softmax(logits, cols, log: true);
        var y = new double[targets.Length];
        for (int r = 0; r < targets.Length; r++) y[r] = targets[r] == ignoreIndex ? 0 : -ls[r * cols + targets[r]];
        return y;
    }

    public static double[] Gather(double[] table, int[] ids, int cols)
    {
        var y = new double[ids.Length * cols];
        for (int r = 0; r < ids.Length; r++)
            for (int c = 0; c < cols; c++) y[r * cols + c] = table[ids[r] * cols + c];
        return y;
    }

    public static double[] ScatterAdd(double[] src, int[] ids, int vocab, int cols)
    {
        var y = new double[vocab * cols];
        for (int r = 0; r < ids.Length; r++)
            for (int c = 0; c < cols; c++) y[ids[r] * cols + c] += src[r * cols + c];
        return y;
    }

    // ---- layout ---------------------------------------------------------------------------------

    /// <summary>Result axis i is input axis order[i].</summary>
    public static double[] Permute(double[] x, int[] shape, int[] order, out int[] outShape)
    {
        outShape = order.Select(a => shape[a]).ToArray();
        var y = new double[x.Length];
        var idx = new int[shape.Length];
        var src = new int[shape.Length];
        for (int i = 0; i < y.Length; i++)
        {
            Unravel(i, outShape, idx);
            for (int k = 0; k < order.Length; k++) src[order[k]] = idx[k];
            int flat = 0;
            for (int k = 0; k < shape.Length; k++) flat = flat * shape[k] + src[k];
            y[i] = x[flat];
        }
        return y;
    }

    public static double[] Slice(double[] x, int[] shape, int axis, int start, int length)
    {
        int[] outShape = [.. shape];
        outShape[axis] = length;
        var y = new double[Numel(outShape)];
        var idx = new int[shape.Length];
        for (int i = 0; i < y.Length; i++)
        {
            Unravel(i, outShape, idx);
            idx[axis] += start;
            int flat = 0;
            for (int k = 0; k < shape.Length; k++) flat = flat * shape[k] + idx[k];
            y[i] = x[flat];
        }
        return y;
    }

    public static double[] Concat(int axis, params (double[] Data, int[] Shape)[] parts)
    {
        int[] outShape = [.. parts[0].Shape];
        outShape[axis] = parts.Sum(p => p.Shape[axis]);
        var y = new double[Numel(outShape)];
        var idx = new int[outShape.Length];
        for (int i = 0; i < y.Length; i++)
        {
            Unravel(i, outShape, idx);
            int p = 0;
            while (idx[axis] >= parts[p].Shape[axis])
            {
                idx[axis] -= parts[p].Shape[axis];
                p++;
            }
            int flat = 0;
            for (int k = 0; k < outShape.Length; k++) flat = flat * parts[p].Shape[k] + idx[k];
            y[i] = parts[p].Data[flat];
        }
        return y;
    }
}
