using Engine.Autograd;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The suite's gradient check: random inputs, then <see cref="GradCheck.Run"/> against a float64 reference forward of
/// the same op, so both the rule and the forward are checked, with the comparisons through <see cref="Tolerance"/>.
/// </summary>
static class GradAssert
{
    public static void Check(Func<Variable[], Variable> op, Func<double[][], double[]> reference, Shape[] shapes, int seed = 1,
        double atol = 2e-4, double rtol = 2e-3, float lo = -1f, float hi = 1f, bool[]? differentiable = null)
    {
        using var scope = TensorScope.Open();
        var vars = new Variable[shapes.Length];
        for (int i = 0; i < shapes.Length; i++)
        {
            var value = Engine.Tensor.FromArray(Data.Uniform(shapes[i].Numel, seed * 31 + i, lo, hi), shapes[i]);
            vars[i] = new Variable(value, requiresGrad: differentiable?[i] ?? true);
        }
        var result = GradCheck.Run(op, vars, new GradCheckOptions { Reference = reference, Seed = (ulong)seed + 1000 });
        Tolerance.AssertClose(result.Output, result.ReferenceOutput, 1e-5, 1e-4, "forward");
        foreach (var input in result.Inputs) Tolerance.AssertClose(input.Analytic, input.Numeric, atol, rtol, $"gradient of input {input.Input}");
    }
}

/// <summary>Float64 forward references of the differentiable ops, written independently of the engine.</summary>
static class Ref64
{
    public static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int st = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = st; st *= shape[d]; }
        return s;
    }

    public static int Numel(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    /// <summary>NumPy broadcasting of two arrays through f.</summary>
    public static double[] Broadcast(double[] a, int[] sa, double[] b, int[] sb, Func<double, double, double> f, out int[] shape)
    {
        int rank = Math.Max(sa.Length, sb.Length);
        var pa = Enumerable.Repeat(1, rank - sa.Length).Concat(sa).ToArray();
        var pb = Enumerable.Repeat(1, rank - sb.Length).Concat(sb).ToArray();
        shape = new int[rank];
        for (int d = 0; d < rank; d++) shape[d] = Math.Max(pa[d], pb[d]);
        var y = new double[Numel(shape)];
        var st = Strides(shape);
        var stA = Strides(pa);
        var stB = Strides(pb);
        for (int i = 0; i < y.Length; i++)
        {
            int ia = 0, ib = 0;
            for (int d = 0; d < rank; d++)
            {
                int idx = i / st[d] % shape[d];
                if (pa[d] != 1) ia += idx * stA[d];
                if (pb[d] != 1) ib += idx * stB[d];
            }
            y[i] = f(a[ia], b[ib]);
        }
        return y;
    }

    public static double[] Map(double[] x, Func<double, double> f) => x.Select(f).ToArray();

    public static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    /// <summary>Reduction over one axis of shape with f(values along the axis).</summary>
    public static double[] Reduce(double[] x, int[] shape, int axis, Func<double[], double> f)
    {
        int outer = shape.Take(axis).Aggregate(1, (a, b) => a * b), n = shape[axis], inner = shape.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
        var y = new double[outer * inner];
        var buf = new double[n];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                for (int j = 0; j < n; j++) buf[j] = x[(o * n + j) * inner + i];
                y[o * inner + i] = f(buf);
            }
        return y;
    }

    /// <summary>Row-wise map over the last axis.</summary>
    public static double[] Rows(double[] x, int cols, Func<double[], double[]> f)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / cols; r++) f(x.Skip(r * cols).Take(cols).ToArray()).CopyTo(y, r * cols);
        return y;
    }

    public static double[] Softmax(double[] row)
    {
        double m = row.Max();
        var e = row.Select(v => Math.Exp(v - m)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    public static double[] LogSoftmax(double[] row)
    {
        double m = row.Max();
        double lse = m + Math.Log(row.Sum(v => Math.Exp(v - m)));
        return row.Select(v => v - lse).ToArray();
    }

    /// <summary>c = op(a)·op(b) for batch × [m, k]·[k, n]; a batch stride of 0 shares an operand.</summary>
    public static double[] Matmul(double[] a, double[] b, int batch, int m, int n, int k, bool ta, bool tb, bool shareA = false, bool shareB = false)
    {
        var c = new double[batch * m * n];
        for (int z = 0; z < batch; z++)
        {
            int oa = shareA ? 0 : z * m * k, ob = shareB ? 0 : z * k * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += a[oa + (ta ? p * m + i : i * k + p)] * b[ob + (tb ? j * k + p : p * n + j)];
                    c[z * m * n + i * n + j] = s;
                }
        }
        return c;
    }

    public static double[] LayerNorm(double[] x, double[] w, double[] b, int cols, double eps = 1e-5) =>
        Rows(x, cols, row =>
        {
            double mean = row.Average();
            double var = row.Sum(v => (v - mean) * (v - mean)) / cols;
            double rs = 1 / Math.Sqrt(var + eps);
            return row.Select((v, i) => (v - mean) * rs * w[i] + b[i]).ToArray();
        });

    /// <summary>Attention over batch × [t, d] with keys [s, d]; causal sees j ≤ i + s − t; mask is [t, s] additive.</summary>
    public static double[] Attention(double[] q, double[] k, double[] v, int batch, int t, int s, int d, bool causal, double[]? mask)
    {
        var o = new double[batch * t * d];
        double scale = 1 / Math.Sqrt(d);
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < t; i++)
            {
                var sc = new double[s];
                for (int j = 0; j < s; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += q[(z * t + i) * d + c] * k[(z * s + j) * d + c];
                    sc[j] = dot * scale + (mask?[i * s + j] ?? 0) + (causal && j > i + s - t ? double.NegativeInfinity : 0);
                }
                var p = Softmax(sc);
                for (int c = 0; c < d; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < s; j++) acc += p[j] * v[(z * s + j) * d + c];
                    o[(z * t + i) * d + c] = acc;
                }
            }
        return o;
    }
}
