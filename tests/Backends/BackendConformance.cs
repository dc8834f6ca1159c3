using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Ops;
using Engine.Tests.Support;

namespace Engine.Tests.Backends;

/// <summary>
/// Every backend runs these tests: each op is computed on <see cref="Device"/> and compared with a float64
/// reference (tests/Support/Reference.cs) or, for the backward halves and the optimizer, with the CPU
/// backend on the same inputs. Shapes stay at 64 or below so that ILGPU's CPU accelerator, which runs
/// every thread of a group as an OS thread, gets through the suite in seconds.
/// </summary>
public abstract class BackendConformance
{
    /// <summary>The device under test; a subclass skips here when it is absent.</summary>
    protected abstract Device Device { get; }

    /// <summary>
    /// Relative tolerance of transcendental functions against the float64 reference. The CPU backend and
    /// ILGPU's CPU accelerator use .NET's MathF (a few ulp); CUDA overrides this, as its exp and tanh
    /// compile to the hardware's approximate instructions.
    /// </summary>
    protected virtual double MathRtol => 1e-5;

    Tensor On(float[] data, params int[] shape) => Tensor.FromArray(data, new Shape(shape), Device);

    Tensor Ints(int[] data, params int[] shape) => Tensor.FromInts(data, new Shape(shape), Device);

    static Tensor Cpu(float[] data, params int[] shape) => Tensor.FromArray(data, new Shape(shape));

    // ---- memory and layout ------------------------------------------------------------------------

    [Fact]
    public void WriteReadFillAndZerosRoundTrip()
    {
        var v = Data.Uniform(37, 1);
        using var t = On(v, 37);
        Assert.Equal(Device, t.Device);
        Assert.Equal(v, t.ToArray());
        t.Fill(2.5f);
        Assert.All(t.ToArray(), x => Assert.Equal(2.5f, x));
        using var z = Tensor.Zeros(new Shape(5, 3), Device);
        Assert.All(z.ToArray(), x => Assert.Equal(0f, x));
        using var ids = Ints([3, -1, 7], 3);
        Assert.Equal([3, -1, 7], ids.ToInts());
        using var view = t.Narrow(10, 5);
        view.CopyFrom([1f, 2f, 3f, 4f, 5f]);
        Assert.Equal([2.5f, 1f, 2f, 3f, 4f, 5f, 2.5f], t.ToArray()[9..16]);
        using var back = t.To(Device.Cpu);
        Assert.Equal(t.ToArray(), back.ToArray());
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4 }, new[] { 2, 0, 1 })]
    [InlineData(new[] { 3, 1, 5, 2 }, new[] { 3, 1, 0, 2 })]
    [InlineData(new[] { 4, 6 }, new[] { 1, 0 })]
    public void PermuteMatchesReference(int[] shape, int[] order)
    {
        var v = Data.Uniform(Reference.Numel(shape), 2);
        using var x = On(v, shape);
        using var y = x.Permute(order);
        var expected = Reference.Permute(Data.ToDouble(v), shape, order, out var outShape);
        Assert.Equal(outShape, y.Shape.ToArray());
        Tolerance.AssertClose(y.ToArray(), expected, 0, 0, "permute");
    }

    [Fact]
    public void SliceConcatBroadcastAndWriteSliceMatchReference()
    {
        var a = Data.Uniform(24, 3);
        var b = Data.Uniform(12, 4);
        using var ta = On(a, 2, 3, 4);
        using var tb = On(b, 2, 3, 2);
        using var s = ta.Slice(2, 1, 2);
        Tolerance.AssertClose(s.ToArray(), Reference.Slice(Data.ToDouble(a), [2, 3, 4], 2, 1, 2), 0, 0, "slice");
        using var c = Tensor.Concat(-1, ta, tb);
        Tolerance.AssertClose(c.ToArray(), Reference.Concat(2, (Data.ToDouble(a), [2, 3, 4]), (Data.ToDouble(b), [2, 3, 2])), 0, 0, "concat");
        using var row = On([1f, 2f, 3f], 3, 1);
        using var wide = row.BroadcastTo(new Shape(2, 3, 4));
        var w = wide.ToArray();
        for (int i = 0; i < 24; i++) Assert.Equal(i / 4 % 3 + 1f, w[i]);
        using var back = Tensor.SliceBackward(s, new Shape(2, 3, 4), 2, 1);
        var bk = back.ToArray();
        for (int i = 0; i < 24; i++) Assert.Equal(i % 4 is 1 or 2 ? a[i] : 0f, bk[i]);
    }

    // ---- element-wise -------------------------------------------------------------------------------

    public static readonly TheoryData<string> UnaryOps = new("neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu");

    [Theory, MemberData(nameof(UnaryOps))]
    public void UnaryOpsMatchReference(string op)
    {
        bool positive = op is "log" or "sqrt" or "rsqrt";
        var v = Data.Uniform(61, 5, positive ? 0.05f : -4f, 4f);
        using var x = On(v, 61);
        using var y = op switch
        {
            "neg" => x.Neg(), "abs" => x.Abs(), "exp" => x.Exp(), "log" => x.Log(), "sqrt" => x.Sqrt(), "rsqrt" => x.Rsqrt(),
            "tanh" => x.Tanh(), "sigmoid" => x.Sigmoid(), "relu" => x.Relu(), _ => x.Gelu(),
        };
        Func<double, double> f = op switch
        {
            "neg" => d => -d, "abs" => Math.Abs, "exp" => Math.Exp, "log" => Math.Log, "sqrt" => Math.Sqrt, "rsqrt" => d => 1 / Math.Sqrt(d),
            "tanh" => Math.Tanh, "sigmoid" => Reference.Sigmoid, "relu" => Reference.Relu, _ => Reference.Gelu,
        };
        // atol covers tanh and GELU near 0, where a few ulp of float rounding exceed any relative bound.
        Tolerance.AssertClose(y.ToArray(), Reference.Map(Data.ToDouble(v), f), 1e-6, MathRtol, op);
    }

    public static readonly TheoryData<int[], int[]> BroadcastPairs = new()
    {
        { [5, 7], [5, 7] },
        { [5, 7], [7] },
        { [3, 1, 4], [1, 5, 1] },
        { [1], [2, 3, 2] },
        { [2, 1, 3, 1], [4, 1, 5] },
    };

    [Theory, MemberData(nameof(BroadcastPairs))]
    public void BinaryOpsBroadcastLikeReference(int[] sa, int[] sb)
    {
        var a = Data.Grid(Reference.Numel(sa), 6);
        var b = Data.Grid(Reference.Numel(sb), 7);
        for (int i = 0; i < b.Length; i++) if (b[i] == 0f) b[i] = 0.25f;
        using var ta = On(a, sa);
        using var tb = On(b, sb);
        (string, Func<Tensor, Tensor, Tensor>, Func<double, double, double>)[] ops =
        [
            ("add", Tensor.Add, (x, y) => x + y), ("sub", Tensor.Sub, (x, y) => x - y), ("mul", Tensor.Mul, (x, y) => x * y),
            ("div", Tensor.Div, (x, y) => (float)x / (float)y), ("maximum", Tensor.Maximum, Math.Max), ("minimum", Tensor.Minimum, Math.Min),
            ("eq", Tensor.Eq, (x, y) => x == y ? 1 : 0), ("ne", Tensor.Ne, (x, y) => x != y ? 1 : 0), ("lt", Tensor.Lt, (x, y) => x < y ? 1 : 0),
            ("le", Tensor.Le, (x, y) => x <= y ? 1 : 0), ("gt", Tensor.Gt, (x, y) => x > y ? 1 : 0), ("ge", Tensor.Ge, (x, y) => x >= y ? 1 : 0),
        ];
        foreach (var (name, op, f) in ops)
        {
            using var y = op(ta, tb);
            var expected = Reference.Binary(f, Data.ToDouble(a), sa, Data.ToDouble(b), sb, out var shape);
            Assert.Equal(shape, y.Shape.ToArray());
            // Grid inputs make every result exact, except division, which rounds once in float.
            Tolerance.AssertClose(y.ToArray(), expected, 0, name == "div" ? 1e-7 : 0, name);
        }
    }

    [Fact]
    public void MaximumAndMinimumPropagateNaN()
    {
        using var a = On([float.NaN, 1f, -2f, 3f], 4);
        using var b = On([2f, float.NaN, -1f, 3f], 4);
        using var max = Tensor.Maximum(a, b);
        using var min = Tensor.Minimum(a, b);
        var mx = max.ToArray();
        var mn = min.ToArray();
        Assert.True(float.IsNaN(mx[0]) && float.IsNaN(mx[1]) && float.IsNaN(mn[0]) && float.IsNaN(mn[1]), "NaN must propagate");
        Assert.Equal([-1f, 3f], mx[2..]);
        Assert.Equal([-2f, 3f], mn[2..]);
    }

    [Fact]
    public void InPlaceOpsAndGradientFunctorsMatchTheCpuBackend()
    {
        var a = Data.Uniform(48, 8, -3, 3);
        var b = Data.Uniform(8, 9, -3, 3);
        using var t = On(a, 6, 8);
        using var bias = On(b, 8);
        t.AddInPlace(bias);
        t.MulInPlace(0.5f);
        var expected = new double[48];
        for (int i = 0; i < 48; i++) expected[i] = ((double)a[i] + b[i % 8]) * 0.5;
        Tolerance.AssertClose(t.ToArray(), expected, 1e-6, 1e-6, "add_ then mul_");

        using var dy = On(Data.Uniform(48, 10), 6, 8);
        using var cx = Cpu(t.ToArray(), 6, 8);
        using var cdy = Cpu(dy.ToArray(), 6, 8);
        foreach (var (name, dev, cpu) in new (string, Func<Tensor>, Func<Tensor>)[]
        {
            ("gelu_backward", () => Tensor.Zip<GeluGrad>(t, dy), () => Tensor.Zip<GeluGrad>(cx, cdy)),
            ("tanh_backward", () => Tensor.Zip<TanhGrad>(t, dy), () => Tensor.Zip<TanhGrad>(cx, cdy)),
            ("sigmoid_backward", () => Tensor.Zip<SigmoidGrad>(t, dy), () => Tensor.Zip<SigmoidGrad>(cx, cdy)),
            ("relu_backward", () => Tensor.Zip<ReluGrad>(t, dy), () => Tensor.Zip<ReluGrad>(cx, cdy)),
            ("abs_backward", () => Tensor.Zip<AbsGrad>(t, dy), () => Tensor.Zip<AbsGrad>(cx, cdy)),
        })
        {
            using var d = dev();
            using var c = cpu();
            Tolerance.AssertClose(d.ToArray(), c.ToArray(), 1e-6, 10 * MathRtol, name);
        }
    }

    [Fact]
    public void WhereAndMaskedFillBroadcast()
    {
        var cond = new float[] { 1, 0, 0, 1, 1, 0 };
        var a = Data.Uniform(24, 11);
        using var c = On(cond, 2, 1, 3);
        using var ta = On(a, 2, 4, 3);
        using var b = On([-7f], 1);
        using var y = Tensor.Where(c, ta, b);
        var v = y.ToArray();
        for (int i = 0; i < 24; i++) Assert.Equal(cond[i / 12 * 3 + i % 3] != 0 ? a[i] : -7f, v[i]);
        using var m = ta.MaskedFill(c, 9f);
        var mv = m.ToArray();
        for (int i = 0; i < 24; i++) Assert.Equal(cond[i / 12 * 3 + i % 3] != 0 ? 9f : a[i], mv[i]);
    }

    // ---- reductions ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(0, 21)]
    [InlineData(1, 21)]
    [InlineData(2, 21)]
    [InlineData(1, 70)] // long enough for the two-pass column sum
    public void SumMeanMaxArgMaxMatchReference(int axis, int middle)
    {
        int[] shape = [3, middle, 5];
        // A grid of values gives ties, which argmax must resolve to the first index.
        var v = Data.Grid(Reference.Numel(shape), 12);
        using var x = On(v, shape);
        var xd = Data.ToDouble(v);
        using var sum = x.Sum(axis);
        Tolerance.AssertClose(sum.ToArray(), Reference.Sum(xd, shape, axis), 0, 0, "sum");
        using var mean = x.Mean(axis, keepDim: true);
        var expectedMean = Array.ConvertAll(Reference.Sum(xd, shape, axis), s => s / shape[axis]);
        Tolerance.AssertClose(mean.ToArray(), expectedMean, 1e-7, 1e-6, "mean");
        using var max = x.Max(axis);
        Tolerance.AssertClose(max.ToArray(), Reference.Max(xd, shape, axis), 0, 0, "max");
        using var arg = x.ArgMax(axis);
        Assert.Equal(Array.ConvertAll(Reference.ArgMax(xd, shape, axis), d => (int)d), arg.ToInts());
    }

    [Fact]
    public void LongRowSumIsDeterministicAndNaNPropagatesThroughMaxAndArgMax()
    {
        var v = Data.Uniform(4 * 1000, 13, -1000, 1000);
        using var x = On(v, 4, 1000);
        using var s1 = x.Sum(1);
        using var s2 = x.Sum(1);
        Assert.Equal(s1.ToArray(), s2.ToArray());
        Tolerance.AssertClose(s1.ToArray(), Reference.Sum(Data.ToDouble(v), [4, 1000], 1), 1e-2, 1e-5, "sum");

        var w = new float[] { 1, 5, 5, 2, /**/ 1, float.NaN, 9, float.NaN, /**/ float.NegativeInfinity, float.NegativeInfinity,
            float.NegativeInfinity, float.NegativeInfinity };
        using var t = On(w, 3, 4);
        using var max = t.Max(1);
        var m = max.ToArray();
        Assert.Equal(5f, m[0]);
        Assert.True(float.IsNaN(m[1]));
        Assert.Equal(float.NegativeInfinity, m[2]);
        using var arg = t.ArgMax(1);
        Assert.Equal([1, 1, 0], arg.ToInts());
        using var colArg = t.ArgMax(0);
        Assert.Equal([0, 1, 1, 1], colArg.ToInts());
    }

    // ---- matmul -------------------------------------------------------------------------------------

    static double[] MatmulReference(float[] a, float[] b, int batch, int m, int n, int k, bool ta, bool tb, bool shareA, bool shareB)
    {
        var c = new double[batch * m * n];
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    int ao = shareA ? 0 : z * m * k, bo = shareB ? 0 : z * k * n;
                    for (int p = 0; p < k; p++)
                        s += (double)a[ao + (ta ? p * m + i : i * k + p)] * b[bo + (tb ? j * k + p : p * n + j)];
                    c[z * m * n + i * n + j] = s;
                }
        return c;
    }

    [Theory]
    [InlineData(1, 17, 9, 33, false, false, false, false)]
    [InlineData(1, 16, 16, 16, true, false, false, false)]
    [InlineData(1, 5, 31, 7, false, true, false, false)]
    [InlineData(3, 9, 6, 20, true, true, false, false)]
    [InlineData(4, 8, 12, 10, false, false, true, false)]
    [InlineData(2, 7, 5, 3, false, true, false, true)]
    [InlineData(1, 1, 1, 1, false, false, false, false)]
    [InlineData(2, 70, 65, 40, true, false, false, false)]
    public void MatmulMatchesReference(int batch, int m, int n, int k, bool ta, bool tb, bool shareA, bool shareB)
    {
        int[] sa = ta ? [k, m] : [m, k], sb = tb ? [n, k] : [k, n];
        var a = Data.Uniform((shareA ? 1 : batch) * m * k, 14);
        var b = Data.Uniform((shareB ? 1 : batch) * k * n, 15);
        using var x = shareA ? On(a, sa) : On(a, [batch, .. sa]);
        using var y = shareB ? On(b, sb) : On(b, [batch, .. sb]);
        using var c = Tensor.Matmul(x, y, ta, tb);
        var expected = MatmulReference(a, b, batch, m, n, k, ta, tb, shareA, shareB);
        // k products in float: the error grows like √k·ulp; 1e-5 relative plus 1e-5·√k absolute bounds it.
        Tolerance.AssertClose(c.ToArray(), expected, 1e-5 * Math.Sqrt(k), 1e-5, "matmul");

        Tensor.MatmulAccumulate(c, x, y, ta, tb);
        Tolerance.AssertClose(c.ToArray(), Array.ConvertAll(expected, e => 2 * e), 2e-5 * Math.Sqrt(k), 1e-5, "matmul_acc");
    }

    // ---- neural-net ops -----------------------------------------------------------------------------

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(5, 64)]
    public void SoftmaxAndLogSoftmaxMatchReference(int rows, int cols)
    {
        var v = Data.Uniform(rows * cols, 16, -8, 8);
        if (rows >= 2) for (int c = 0; c < cols; c++) v[cols + c] = 1000f + c % 3;
        using var x = On(v, rows, cols);
        using var y = x.Softmax();
        using var ly = x.LogSoftmax();
        Tolerance.AssertClose(y.ToArray(), Reference.Softmax(Data.ToDouble(v), cols, log: false), 1e-9, 2 * MathRtol, "softmax");
        Tolerance.AssertClose(ly.ToArray(), Reference.Softmax(Data.ToDouble(v), cols, log: true), 1e-5, 2 * MathRtol, "log_softmax");
    }

    [Theory]
    [InlineData(4, 33)]
    [InlineData(2, 64)]
    [InlineData(1, 3)]
    public void LayerNormMatchesReference(int rows, int cols)
    {
        var v = Data.Uniform(rows * cols, 17, -2, 8);
        var w = Data.Uniform(cols, 18, 0.5f, 1.5f);
        var b = Data.Uniform(cols, 19);
        using var x = On(v, rows, cols);
        using var tw = On(w, cols);
        using var tb = On(b, cols);
        using var y = x.LayerNorm(tw, tb, 1e-5f, out var mean, out var rstd);
        var expected = Reference.LayerNorm(Data.ToDouble(v), Data.ToDouble(w), Data.ToDouble(b), cols, 1e-5, out var em, out var es);
        Tolerance.AssertClose(y.ToArray(), expected, 1e-5, 1e-5, "layer_norm");
        Tolerance.AssertClose(mean.ToArray(), em, 1e-6, 1e-6, "mean");
        Tolerance.AssertClose(rstd.ToArray(), es, 1e-6, 1e-5, "rstd");
        mean.Dispose();
        rstd.Dispose();
    }

    [Fact]
    public void EmbeddingGatherAndScatterAddMatchReference()
    {
        int vocab = 9, cols = 6;
        var table = Data.Uniform(vocab * cols, 20);
        int[] ids = [3, 0, 8, 3, 3, 5, 0];
        using var t = On(table, vocab, cols);
        using var i = Ints(ids, 7);
        using var y = Tensor.Embedding(t, i);
        Tolerance.AssertClose(y.ToArray(), Reference.Gather(Data.ToDouble(table), ids, cols), 0, 0, "gather");
        var src = Data.Uniform(7 * cols, 21);
        using var s = On(src, 7, cols);
        using var g = Tensor.EmbeddingScatterAdd(s, i, vocab);
        using var g2 = Tensor.EmbeddingScatterAdd(s, i, vocab);
        Tolerance.AssertClose(g.ToArray(), Reference.ScatterAdd(Data.ToDouble(src), ids, vocab, cols), 1e-6, 1e-6, "scatter_add");
        Assert.Equal(g.ToArray(), g2.ToArray());
    }

    [Fact]
    public void EmbeddingScatterAddGivesTheCpuBackendsBits()
    {
        // Many rows per id, in scattered order: each element must be the CPU's chain of additions, in row order.
        int vocab = 37, cols = 70, rows = 500;
        var random = new System.Random(4);
        int[] ids = [.. Enumerable.Range(0, rows).Select(_ => random.Next(vocab) % 11 * 3)];
        var src = Data.Uniform(rows * cols, 22);
        using var s = On(src, rows, cols);
        using var i = Ints(ids, rows);
        using var g = Tensor.EmbeddingScatterAdd(s, i, vocab);
        using var cpuSrc = Tensor.FromArray(src, new Shape(rows, cols));
        using var cpuIds = Tensor.FromInts(ids, new Shape(rows));
        using var cpu = Tensor.EmbeddingScatterAdd(cpuSrc, cpuIds, vocab);
        Assert.Equal(cpu.ToArray(), g.ToArray());
    }

    [Fact]
    public void CrossEntropyAndBiasGeluMatchReference()
    {
        int rows = 6, cols = 13;
        var logits = Data.Uniform(rows * cols, 22, -5, 5);
        int[] targets = [0, 12, -100, 4, 4, 7];
        using var l = On(logits, rows, cols);
        using var t = Ints(targets, rows);
        using var losses = Tensor.CrossEntropy(l, t, reduction: LossReduction.None);
        Tolerance.AssertClose(losses.ToArray(), Reference.CrossEntropyRows(Data.ToDouble(logits), targets, cols, -100), 1e-5, 2 * MathRtol,
            "cross_entropy");
        using var mean = Tensor.CrossEntropy(l, t);
        var rowsExpected = Reference.CrossEntropyRows(Data.ToDouble(logits), targets, cols, -100);
        Tolerance.AssertClose([mean.ToScalar()], [rowsExpected.Sum() / 5], 1e-5, 2 * MathRtol, "cross_entropy mean");

        var x = Data.Uniform(rows * cols, 23, -4, 4);
        var bias = Data.Uniform(cols, 24);
        using var tx = On(x, rows, cols);
        using var tbias = On(bias, cols);
        using var y = tx.BiasGelu(tbias);
        var expected = new double[rows * cols];
        for (int i = 0; i < expected.Length; i++) expected[i] = Reference.Gelu((double)(x[i] + bias[i % cols]));
        Tolerance.AssertClose(y.ToArray(), expected, 1e-6, MathRtol, "bias_gelu");
    }

    // ---- backward halves and the optimizer, against the CPU backend ------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftmaxBackwardMatchesTheCpuBackend(bool log)
    {
        var v = Data.Uniform(5 * 19, 25, -3, 3);
        var g = Data.Uniform(5 * 19, 26);
        using var x = On(v, 5, 19);
        using var y = log ? x.LogSoftmax() : x.Softmax();
        using var dy = On(g, 5, 19);
        using var dx = Tensor.SoftmaxBackward(y, dy, log);
        using var cy = Cpu(y.ToArray(), 5, 19);
        using var cdy = Cpu(g, 5, 19);
        using var expected = Tensor.SoftmaxBackward(cy, cdy, log);
        Tolerance.AssertClose(dx.ToArray(), expected.ToArray(), 1e-6, 1e-5, log ? "log_softmax_backward" : "softmax_backward");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(100)] // dweight and dbias summed over several row chunks
    public void LayerNormBackwardMatchesTheCpuBackendAndAccumulates(int rows)
    {
        const int cols = 24;
        var v = Data.Uniform(rows * cols, 27, -2, 2);
        var w = Data.Uniform(cols, 28, 0.5f, 1.5f);
        var g = Data.Uniform(rows * cols, 29);
        Tensor[] Run(Device d)
        {
            using var x = Tensor.FromArray(v, new Shape(rows, cols), d);
            using var tw = Tensor.FromArray(w, new Shape(cols), d);
            using var tb = Tensor.Zeros(new Shape(cols), d);
            using var dy = Tensor.FromArray(g, new Shape(rows, cols), d);
            using var y = x.LayerNorm(tw, tb, 1e-5f, out var mean, out var rstd);
            var dw = Tensor.Ones(new Shape(cols), d);
            var db = Tensor.Ones(new Shape(cols), d);
            var dx = Tensor.LayerNormBackward(x, tw, mean, rstd, dy, dw, db);
            mean.Dispose();
            rstd.Dispose();
            return [dx, dw, db];
        }
        var dev = Run(Device);
        var cpu = Run(Device.Cpu);
        string[] names = ["dx", "dweight (+1)", "dbias (+1)"];
        for (int i = 0; i < 3; i++)
        {
            Tolerance.AssertClose(dev[i].ToArray(), cpu[i].ToArray(), 1e-5, 1e-5, names[i]);
            dev[i].Dispose();
            cpu[i].Dispose();
        }
    }

    [Fact]
    public void CrossEntropyBackwardMatchesTheCpuBackend()
    {
        int rows = 5, cols = 11;
        var logits = Data.Uniform(rows * cols, 30, -4, 4);
        int[] targets = [2, -100, 10, 0, 2];
        using var l = On(logits, rows, cols);
        using var t = Ints(targets, rows);
        using var d = Tensor.CrossEntropyBackward(l, t, -100, 0.25f);
        using var cl = Cpu(logits, rows, cols);
        using var ct = Tensor.FromInts(targets, new Shape(rows));
        using var expected = Tensor.CrossEntropyBackward(cl, ct, -100, 0.25f);
        Tolerance.AssertClose(d.ToArray(), expected.ToArray(), 1e-7, 2 * MathRtol, "cross_entropy_backward");
        Assert.All(d.ToArray()[cols..(2 * cols)], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AdamWMatchesTheCpuBackendOverSeveralSlotsAndSteps()
    {
        var shapes = new[] { new Shape(5, 7), new Shape(3), new Shape(64) };
        (Tensor P, Tensor G, Tensor M, Tensor V)[] Make(Device d) => shapes.Select((s, i) => (
            Tensor.FromArray(Data.Uniform(s.Numel, 40 + i), s, d), Tensor.FromArray(Data.Uniform(s.Numel, 50 + i), s, d),
            Tensor.Zeros(s, d), Tensor.Zeros(s, d))).ToArray();
        var dev = Make(Device);
        var cpu = Make(Device.Cpu);
        for (int step = 1; step <= 3; step++)
        {
            var h = new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1f - MathF.Pow(0.9f, step), 1f - MathF.Pow(0.999f, step));
            Tensor.AdamW(dev.Select(s => new AdamWSlot(s.P, s.G, s.M, s.V)).ToArray(), h);
            Tensor.AdamW(cpu.Select(s => new AdamWSlot(s.P, s.G, s.M, s.V)).ToArray(), h);
        }
        for (int i = 0; i < shapes.Length; i++)
        {
            Tolerance.AssertClose(dev[i].P.ToArray(), cpu[i].P.ToArray(), 1e-7, 1e-6, $"param {i}");
            Tolerance.AssertClose(dev[i].M.ToArray(), cpu[i].M.ToArray(), 1e-7, 1e-6, $"m {i}");
            Tolerance.AssertClose(dev[i].V.ToArray(), cpu[i].V.ToArray(), 1e-9, 1e-6, $"v {i}");
            foreach (var t in new[] { dev[i].P, dev[i].G, dev[i].M, dev[i].V, cpu[i].P, cpu[i].G, cpu[i].M, cpu[i].V }) t.Dispose();
        }
    }

    // ---- random numbers -----------------------------------------------------------------------------

    [Fact]
    public void UniformStreamIsBitIdenticalToTheCpuBackend()
    {
        using var u = Tensor.Rand(new Shape(1000), seed: 77, offset: 123456789012UL, device: Device);
        using var cpu = Tensor.Rand(new Shape(1000), seed: 77, offset: 123456789012UL);
        Assert.Equal(cpu.ToArray(), u.ToArray());
    }

    [Fact]
    public void NormalStreamMatchesTheCpuBackend()
    {
        using var n = Tensor.Randn(new Shape(1000), seed: 5, offset: 3, device: Device);
        using var cpu = Tensor.Randn(new Shape(1000), seed: 5, offset: 3);
        // Same Philox words; only log, cos and sqrt may round differently on a device.
        Tolerance.AssertClose(n.ToArray(), cpu.ToArray(), 1e-5, 10 * MathRtol, "normal");
    }

    // ---- errors -------------------------------------------------------------------------------------

    [Fact]
    public void ErrorsNameTheOpAndNothingCrashes()
    {
        using var a = On(Data.Uniform(6, 32), 2, 3);
        using var b = On(Data.Uniform(8, 33), 2, 4);
        var e = Assert.Throws<TensorShapeException>(() => Tensor.Matmul(a, b));
        Assert.Contains("matmul", e.Message);
        e = Assert.Throws<TensorShapeException>(() => a + b);
        Assert.Contains("add", e.Message);

        using var table = On(Data.Uniform(12, 34), 4, 3);
        using var bad = Ints([1, 4], 2);
        e = Assert.Throws<TensorShapeException>(() => Tensor.Embedding(table, bad));
        Assert.Contains("embedding", e.Message);
        e = Assert.Throws<TensorShapeException>(() => Tensor.EmbeddingScatterAdd(a, bad, 3));
        Assert.Contains("embedding_scatter_add", e.Message);
        using var logits = On(Data.Uniform(8, 35), 2, 4);
        e = Assert.Throws<TensorShapeException>(() => Tensor.CrossEntropy(logits, bad));
        Assert.Contains("cross_entropy", e.Message);
        e = Assert.Throws<TensorShapeException>(() => Tensor.CrossEntropyBackward(logits, bad, -100, 1f));
        Assert.Contains("cross_entropy_backward", e.Message);

        var gone = On([1f, 2f], 2);
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() => gone.Exp());
        Assert.Throws<ObjectDisposedException>(() => gone.ToArray());

        if (Device != Device.Cpu)
        {
            using var host = Cpu([1f, 2f, 3f], 3);
            using var dev = On([1f, 2f, 3f], 3);
            e = Assert.Throws<TensorShapeException>(() => host + dev);
            Assert.Contains("different devices", e.Message);
        }
    }

    [Fact]
    public void IdsWrittenInPlaceAreCheckedAgain()
    {
        using var table = On(Data.Uniform(12, 37), 4, 3);
        using var ids = Ints([0, 1, 2], 3);
        using (var y = Tensor.Embedding(table, ids)) Assert.Equal(table.ToArray()[..9], y.ToArray());
        using var bad = Ints([9], 1);
        ids.WriteSlice(bad, 0, 1);
        Assert.Equal([0, 9, 2], ids.ToInts());
        Assert.Throws<TensorShapeException>(() => Tensor.Embedding(table, ids));
        using var view = ids.Narrow(2, 1);
        Assert.Equal([2], view.ToInts());
    }

    public static readonly TheoryData<int, int, int, bool, string> AttentionCases = new()
    {
        { 5, 5, 8, true, "none" },
        { 3, 7, 8, true, "none" },       // decoding against a longer KV cache
        { 6, 6, 4, false, "shared" },    // one [T, S] mask for every batch-head
        { 4, 6, 8, true, "per-batch" },  // a [B, 1, T, S] padding mask
    };

    /// <summary>
    /// Attention through the autograd, forward and backward, against the CPU backend: the composed path there,
    /// and wherever the device has them, its fused kernels.
    /// </summary>
    [Theory, MemberData(nameof(AttentionCases))]
    public void AttentionAndItsGradientsMatchTheCpuBackend(int t, int s, int d, bool causal, string mask)
    {
        const int batch = 2, heads = 3;
        var q = Data.Uniform(batch * heads * t * d, 51);
        var k = Data.Uniform(batch * heads * s * d, 52);
        var v = Data.Uniform(batch * heads * s * d, 53);
        var up = Data.Uniform(batch * heads * t * d, 54);
        int[] maskShape = mask == "shared" ? [t, s] : [batch, 1, t, s];
        var m = Data.Uniform(Reference.Numel(maskShape), 55);
        for (int i = 0; i < m.Length; i++) m[i] = i % 5 == 1 ? float.NegativeInfinity : m[i];
        AttentionRun Run(Device dev) => AttentionRun.Of(dev,
            (qv, kv, vv) => Variable.Attention(qv, kv, vv, mask == "none" ? null : Tensor.FromArray(m, new Shape(maskShape), dev), causal),
            (q, new Shape(batch, heads, t, d)), (k, new Shape(batch, heads, s, d)), (v, new Shape(batch, heads, s, d)), up);
        Run(Device).AssertClose(Run(Device.Cpu), 1e-5, 1e-4, "attention");
    }

    /// <summary>Attention over a packed tree, walked along the ancestors on every backend (the CPU's trunk as matrix products).</summary>
    [Theory]
    [InlineData(8, 8, "chains", 2)]
    [InlineData(16, 12, "branchy", 2)]
    [InlineData(12, 20, "random", 3)]
    [InlineData(16, 8, "prompt", 2)]
    [InlineData(80, 72, "chains", 1)]   // wider than the ILGPU walk holds: attended under the dense mask there
    public void TreeAttentionAndItsGradientsMatchTheCpuBackend(int d, int dv, string layout, int heads)
    {
        // A tree with branches from the root and long chains; a trunk of 3, then branches that fork again; 90 positions
        // whose parents are one of the three before them (rows of a warp then walk very different numbers of ancestors);
        // or a packed group: a 40-token prompt (the trunk, over two key tiles) and 6 completions of 12 sharing prefixes.
        var random = new System.Random(5);
        var tree = layout switch
        {
            "chains" => new TreeMask([-1, 0, 1, 2, 1, 4, 5, 2, 7]),
            "branchy" => new TreeMask([-1, 0, 0, 2, 1, 4, 4, 6, 6, 8, 3, 10, 11, 12, 1, -1, 15, 16]),
            "prompt" => PackedGroupTree(40, 6, 12, random),
            _ => new TreeMask([.. Enumerable.Range(0, 90).Select(i => i == 0 ? -1 : Math.Max(0, i - 1 - random.Next(3)))]),
        };
        if (layout == "prompt") Assert.True(tree.Trunk >= 40, $"trunk {tree.Trunk}");
        Assert.True(Device.HasTreeAttention, $"{Device} should walk trees");
        int n = tree.Length;
        var q = Data.Uniform(heads * n * d, 71);
        var k = Data.Uniform(heads * n * d, 72);
        var v = Data.Uniform(heads * n * dv, 73);
        var up = Data.Uniform(heads * n * dv, 74);
        var shape = new Shape(1, heads, n, d);
        var valueShape = new Shape(1, heads, n, dv);
        AttentionRun Run(Device dev) =>
            AttentionRun.Of(dev, (qv, kv, vv) => Variable.Attention(qv, kv, vv, AttentionMask.Tree(tree)), (q, shape), (k, shape), (v, valueShape),
                up);
        var once = Run(Device);
        once.AssertClose(Run(Device.Cpu), 1e-5, 1e-4, "tree attention");
        once.AssertSameBits(Run(Device), "tree attention");
    }

    /// <summary>
    /// The packed tree of a group, built as GRPO builds it (its prefix trie): a prompt, then completions over 5 token ids,
    /// each sharing a random prefix of at least one token with the one before.
    /// </summary>
    static TreeMask PackedGroupTree(int prompt, int completions, int length, System.Random random)
    {
        int[] Tokens(int n) => [.. Enumerable.Range(0, n).Select(_ => random.Next(5))];
        var rows = new List<int[]> { Tokens(length) };
        while (rows.Count < completions) rows.Add([.. rows[^1].Take(random.Next(1, length)).Concat(Tokens(length)).Take(length)]);
        int[][] group = [.. rows];
        var weights = Engine.Rl.Grpo.GroupBatch.TokenWeights(group, null, Engine.Rl.Grpo.Aggregation.TokenMean, length);
        return new Engine.Rl.Grpo.PackedGroup(new Engine.Rl.Grpo.GroupBatch(Tokens(prompt), group, new float[completions], weights)).Tree;
    }

    // ---- end to end ---------------------------------------------------------------------------------

    /// <summary>A GRPO group's loss and gradients from its packed trie on this device equal the unpacked ones on the CPU.</summary>
    [Fact]
    public void PackedGrpoLossMatchesTheUnpackedOneOnTheCpu()
    {
        var config = new GptConfig(VocabSize: 6, ContextLength: 10, Width: 16, Layers: 1, Heads: 2);
        int[] prompt = [0, 3];
        int[][] completions = [[1, 2, 4], [1, 2, 4], [1, 2], [1, 5, 3, 2], [2, 2]];
        var options = new Engine.Rl.Grpo.GrpoOptions(Aggregation: Engine.Rl.Grpo.Aggregation.TokenMean, LambdaScaling: true, MaxNewTokens: 4);
        var trie = Engine.Rl.Trie.PrefixTrie.Build(prompt, completions);
        var batch = new Engine.Rl.Grpo.GroupBatch(prompt, completions, [1f, 1f, -1f, 0.5f, -1.5f],
            Engine.Rl.Grpo.GroupBatch.TokenWeights(completions, trie.LambdaScales(), options.Aggregation, options.MaxNewTokens));
        (float Loss, float[] Grad) Run(Device d, bool packed)
        {
            using var model = new Gpt(config, seed: 9, d);
            using var scope = TensorScope.Open();
            var loss = packed
                ? Engine.Rl.Grpo.GrpoObjective.PackedLoss(model, new Engine.Rl.Grpo.PackedGroup(batch), null, null, options, null, out _, out _)
                : Engine.Rl.Grpo.GrpoObjective.Loss(model, batch, null, null, options, null, out _, out _);
            loss.Backward();
            return (loss.Value.ToScalar(), model.Parameters.Values.SelectMany(p => p.Grad!.ToArray()).ToArray());
        }
        var dev = Run(Device, packed: true);
        var cpu = Run(Device.Cpu, packed: false);
        Tolerance.AssertClose([dev.Loss], [cpu.Loss], 1e-6, 1e-5, "loss");
        Tolerance.AssertClose(dev.Grad, cpu.Grad, 1e-6, 1e-4, "gradients");
    }

    [Fact]
    public void TinyGptTrainsLikeTheCpuBackend()
    {
        var config = new GptConfig(VocabSize: 11, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);
        var ids = Data.Ints(2 * 9, 36, 0, 11);
        var inputs = Enumerable.Range(0, 2).SelectMany(r => ids[(r * 9)..(r * 9 + 8)]).ToArray();
        var targets = Enumerable.Range(0, 2).SelectMany(r => ids[(r * 9 + 1)..(r * 9 + 9)]).ToArray();
        (float[] Losses, float[] Wte) Train(Device d)
        {
            using var model = new Gpt(config, seed: 7, d);
            using var opt = new AdamW(model.Parameters.Values, lr: 1e-2f);
            using var x = Tensor.FromInts(inputs, new Shape(2, 8), d);
            using var y = Tensor.FromInts(targets, new Shape(2, 8), d);
            var losses = new float[3];
            for (int s = 0; s < 3; s++)
            {
                using var scope = TensorScope.Open();
                opt.ZeroGrad();
                var loss = Gpt.Loss(model.Forward(x), y);
                loss.Backward();
                opt.ClipGradNorm(1f);
                opt.Step();
                losses[s] = loss.Value.ToScalar();
            }
            Assert.All(model.Parameters.Values, p => Assert.Equal(d, p.Value.Device));
            return (losses, model["wte.weight"].Value.ToArray());
        }
        var dev = Train(Device);
        var cpu = Train(Device.Cpu);
        Tolerance.AssertClose(dev.Losses, cpu.Losses, 1e-4, 1e-4, "losses");
        Tolerance.AssertClose(dev.Wte, cpu.Wte, 1e-4, 1e-3, "wte after 3 steps");
        Assert.True(dev.Losses[2] < dev.Losses[0], $"loss did not fall: {string.Join(", ", dev.Losses)}");
    }
}

/// <summary>The CPU backend against the references (the baseline the device backends are held to).</summary>
public sealed class CpuConformance : BackendConformance
{
    protected override Device Device => Device.Cpu;
}

/// <summary>ILGPU's kernels on its CPU accelerator: the GPU code paths, checked on any machine.</summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class IlgpuCpuConformance : BackendConformance
{
    protected override Device Device => Device.IlgpuCpu;
}

/// <summary>
/// The same kernels on the CPU accelerator with groups of 16 threads (its widest) instead of its default of
/// one: exercises the shared-memory reduction trees, the barriers and the multi-thread matmul tiles that
/// a GPU runs.
/// </summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class IlgpuCpuWideGroupConformance : BackendConformance, IDisposable
{
    readonly Engine.Ilgpu.IlgpuBackend _backend = (Engine.Ilgpu.IlgpuBackend)Device.IlgpuCpu.Backend;
    readonly int _saved;

    public IlgpuCpuWideGroupConformance()
    {
        _saved = _backend.GroupSize;
        _backend.GroupSize = _backend.MaxGroupSize;
        Assert.Equal(16, _backend.GroupSize);
    }

    protected override Device Device => Device.IlgpuCpu;

    public void Dispose() => _backend.GroupSize = _saved;
}

/// <summary>
/// The CPU accelerator shaped like a GPU (warps of 32, groups of up to 1024): the backend dispatches products
/// to the 128×128-tile GEMM and attention to the flash kernels, exactly as on CUDA.
/// </summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class IlgpuGpuShapedConformance : BackendConformance
{
    protected override Device Device => Device.GpuShapedCpu;
}

/// <summary>ILGPU's kernels on a CUDA GPU; skipped, with the reason, where there is none.</summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class CudaConformance : BackendConformance
{
    static readonly Lazy<(Device? Device, string Reason)> s_cuda = new(() =>
    {
        try
        {
            return (Device.Cuda, "");
        }
        catch (InvalidOperationException e)
        {
            return (null, e.Message);
        }
    });

    protected override Device Device => s_cuda.Value.Device ?? throw SkipNow();

    static Exception SkipNow()
    {
        Assert.Skip(s_cuda.Value.Reason);
        return new InvalidOperationException("unreachable");
    }

    // ex2.approx and tanh.approx: about 2⁻²² and 2⁻¹¹ relative error.
    protected override double MathRtol => 1e-3;
}

/// <summary>Tests that share the process-wide ILGPU devices run one at a time: one stream, one pool.</summary>
[CollectionDefinition(nameof(IlgpuDeviceCollection), DisableParallelization = true)]
public sealed class IlgpuDeviceCollection;
