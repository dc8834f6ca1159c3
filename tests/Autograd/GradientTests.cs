using Engine.Autograd;
using static Engine.Tests.Ref64;

namespace Engine.Tests;

public class GradientTests
{
    static readonly Shape S23 = new(2, 3);

    public static TheoryData<string> UnaryOps => ["neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu"];

    [Theory]
    [MemberData(nameof(UnaryOps))]
    public void Unary(string name)
    {
        (Func<Variable, Variable> f, Func<double, double> r, bool positive) = name switch
        {
            "neg" => ((Func<Variable, Variable>)(x => x.Neg()), (Func<double, double>)(x => -x), false),
            "abs" => (x => x.Abs(), Math.Abs, false),
            "exp" => (x => x.Exp(), Math.Exp, false),
            "log" => (x => x.Log(), Math.Log, true),
            "sqrt" => (x => x.Sqrt(), Math.Sqrt, true),
            "rsqrt" => (x => x.Rsqrt(), x => 1 / Math.Sqrt(x), true),
            "tanh" => (x => x.Tanh(), Math.Tanh, false),
            "sigmoid" => (x => x.Sigmoid(), x => 1 / (1 + Math.Exp(-x)), false),
            "relu" => (x => x.Relu(), x => Math.Max(x, 0), false),
            "gelu" => (x => x.Gelu(), Gelu, false),
            _ => throw new ArgumentException(name),
        };
        GradAssert.Check(v => f(v[0]), x => Map(x[0], r), [new Shape(3, 7)], lo: positive ? 0.2f : -2f, hi: 2f);
    }

    public static TheoryData<int[], int[]> BroadcastPairs => new()
    {
        { [2, 3], [2, 3] }, { [2, 3], [3] }, { [2, 3], [2, 1] }, { [2, 1], [1, 3] }, { [3, 1, 4], [2, 1] }, { [], [2, 3] }, { [4], [] },
    };

    [Theory]
    [MemberData(nameof(BroadcastPairs))]
    public void BinaryWithBroadcasting(int[] sa, int[] sb)
    {
        GradAssert.Check(v => v[0] + v[1], x => Broadcast(x[0], sa, x[1], sb, (a, b) => a + b, out _), [sa, sb]);
        GradAssert.Check(v => v[0] - v[1], x => Broadcast(x[0], sa, x[1], sb, (a, b) => a - b, out _), [sa, sb]);
        GradAssert.Check(v => v[0] * v[1], x => Broadcast(x[0], sa, x[1], sb, (a, b) => a * b, out _), [sa, sb]);
        GradAssert.Check(v => v[0] / v[1], x => Broadcast(x[0], sa, x[1], sb, (a, b) => a / b, out _), [sa, sb], lo: 0.5f, hi: 2f);
        GradAssert.Check(v => Variable.Maximum(v[0], v[1]), x => Broadcast(x[0], sa, x[1], sb, Math.Max, out _), [sa, sb]);
        GradAssert.Check(v => Variable.Minimum(v[0], v[1]), x => Broadcast(x[0], sa, x[1], sb, Math.Min, out _), [sa, sb]);
    }

    [Fact]
    public void ClampPassesTheGradientInsideAndAtItsBounds()
    {
        GradAssert.Check(v => Variable.Clamp(v[0], -0.5f, 0.3f), x => Map(x[0], a => Math.Clamp(a, -0.5, 0.3)), [new Shape(5, 7)]);
        // At a bound the gradient is whole, as in torch.clamp; Maximum(Minimum(x, hi), lo) gives 1/2 there.
        using var scope = TensorScope.Open();
        using var x = Variable.Parameter(Tensor.FromArray([0.8f, 1f, 1.2f, 1.5f]));
        Variable.Clamp(x, 1f, 1.2f).Sum().Backward();
        Assert.Equal([0f, 1f, 1f, 0f], x.Grad!.ToArray());
        Assert.Equal([1f, 1f, 1.2f, 1.2f], Variable.Clamp(x, 1f, 1.2f).Value.ToArray());
        Assert.Throws<ArgumentException>(() => Variable.Clamp(x, 2f, 1f));
    }

    [Fact]
    public void ScalarVariants()
    {
        GradAssert.Check(v => v[0] * 3f + 2f, x => Map(x[0], a => a * 3 + 2), [S23]);
        GradAssert.Check(v => 1f - v[0] / 4f, x => Map(x[0], a => 1 - a / 4), [S23]);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    public void Reductions(int axis, bool keep)
    {
        int[] s = [2, 3, 4];
        GradAssert.Check(v => v[0].Sum(axis, keep), x => Reduce(x[0], s, axis, a => a.Sum()), [s]);
        GradAssert.Check(v => v[0].Mean(axis, keep), x => Reduce(x[0], s, axis, a => a.Average()), [s]);
        GradAssert.Check(v => v[0].Max(axis, keep), x => Reduce(x[0], s, axis, a => a.Max()), [s]);
        GradAssert.Check(v => v[0].Sum(), x => [x[0].Sum()], [s]);
        GradAssert.Check(v => v[0].Mean(), x => [x[0].Average()], [s]);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Matmul(bool ta, bool tb)
    {
        int m = 3, n = 4, k = 5;
        Shape sa = ta ? new(k, m) : new(m, k), sb = tb ? new(n, k) : new(k, n);
        GradAssert.Check(v => Variable.Matmul(v[0], v[1], ta, tb), x => Ref64.Matmul(x[0], x[1], 1, m, n, k, ta, tb), [sa, sb]);
        Shape ba = ta ? new(2, k, m) : new(2, m, k), bb = tb ? new(2, n, k) : new(2, k, n);
        GradAssert.Check(v => Variable.Matmul(v[0], v[1], ta, tb), x => Ref64.Matmul(x[0], x[1], 2, m, n, k, ta, tb), [ba, bb]);
        // a batched operand against a shared one, both ways
        GradAssert.Check(v => Variable.Matmul(v[0], v[1], ta, tb), x => Ref64.Matmul(x[0], x[1], 2, m, n, k, ta, tb, shareB: true), [ba, sb]);
        GradAssert.Check(v => Variable.Matmul(v[0], v[1], ta, tb), x => Ref64.Matmul(x[0], x[1], 2, m, n, k, ta, tb, shareA: true), [sa, bb]);
    }

    [Fact]
    public void LinearWithAndWithoutBias()
    {
        GradAssert.Check(v => Variable.Linear(v[0], v[1], v[2]),
            x => Broadcast(Ref64.Matmul(x[0], x[1], 1, 6, 4, 5, false, false), [6, 4], x[2], [4], (a, b) => a + b, out _),
            [new Shape(2, 3, 5), new Shape(5, 4), new Shape(4)]);
        GradAssert.Check(v => Variable.Linear(v[0], v[1]), x => Ref64.Matmul(x[0], x[1], 1, 3, 4, 5, false, false),
            [new Shape(3, 5), new Shape(5, 4)]);
    }

    [Fact]
    public void SoftmaxAndLogSoftmax()
    {
        GradAssert.Check(v => v[0].Softmax(), x => Rows(x[0], 5, Softmax), [new Shape(3, 5)], lo: -3, hi: 3);
        GradAssert.Check(v => v[0].LogSoftmax(), x => Rows(x[0], 5, LogSoftmax), [new Shape(3, 5)], lo: -3, hi: 3);
    }

    [Fact]
    public void LayerNorm() =>
        GradAssert.Check(v => Variable.LayerNorm(v[0], v[1], v[2]), x => Ref64.LayerNorm(x[0], x[1], x[2], 6),
            [new Shape(4, 6), new Shape(6), new Shape(6)], lo: -2, hi: 2);

    [Fact]
    public void BiasGelu() =>
        GradAssert.Check(v => Variable.BiasGelu(v[0], v[1]), x => Broadcast(x[0], [3, 5], x[1], [5], (a, b) => Gelu(a + b), out _),
            [new Shape(3, 5), new Shape(5)], lo: -2, hi: 2);

    [Fact]
    public void Embedding()
    {
        int[] ids = [2, 0, 2, 3, 2];
        using var idt = Engine.Tensor.FromInts(ids, new Shape(5));
        GradAssert.Check(v => Variable.Embedding(v[0], idt),
            x => ids.SelectMany(i => x[0].Skip(i * 3).Take(3)).ToArray(), [new Shape(4, 3)]);
    }

    [Theory]
    [InlineData(LossReduction.Mean)]
    [InlineData(LossReduction.Sum)]
    public void CrossEntropyWithIgnoredRows(LossReduction reduction)
    {
        int[] targets = [1, -100, 4, 0];
        using var t = Engine.Tensor.FromInts(targets, new Shape(4));
        GradAssert.Check(v => Variable.CrossEntropy(v[0], t, -100, reduction), x =>
        {
            double total = 0;
            int n = 0;
            for (int r = 0; r < 4; r++)
            {
                if (targets[r] == -100) continue;
                total -= LogSoftmax(x[0].Skip(r * 5).Take(5).ToArray())[targets[r]];
                n++;
            }
            return [reduction == LossReduction.Mean ? total / n : total];
        }, [new Shape(4, 5)], lo: -3, hi: 3);
    }

    [Fact]
    public void TargetLogProbs()
    {
        int[] targets = [1, -100, 4, 0];
        using var t = Engine.Tensor.FromInts(targets, new Shape(4));
        GradAssert.Check(v => Variable.TargetLogProbs(v[0], t), x =>
            Enumerable.Range(0, 4).Select(r => targets[r] < 0 ? 0 : LogSoftmax(x[0].Skip(r * 5).Take(5).ToArray())[targets[r]]).ToArray(),
            [new Shape(4, 5)], lo: -3, hi: 3);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Attention(bool causal, bool withMask)
    {
        int b = 2, t = 4, s = 4, d = 3;
        var maskData = Support.Data.Uniform(t * s, 77, -1, 1);
        using var mask = Engine.Tensor.FromArray(maskData, new Shape(t, s));
        GradAssert.Check(v => Variable.Attention(v[0], v[1], v[2], withMask ? mask : null, causal),
            x => Ref64.Attention(x[0], x[1], x[2], b, t, s, d, causal, withMask ? Array.ConvertAll(maskData, f => (double)f) : null),
            [new Shape(b, t, d), new Shape(b, s, d), new Shape(b, s, d)]);
    }

    [Fact]
    public void AttentionWithMoreKeysThanQueries() =>
        GradAssert.Check(v => Variable.Attention(v[0], v[1], v[2], null, causal: true),
            x => Ref64.Attention(x[0], x[1], x[2], 1, 2, 5, 3, true, null),
            [new Shape(1, 2, 3), new Shape(1, 5, 3), new Shape(1, 5, 3)]);

    [Fact]
    public void LayoutOps()
    {
        int[] s = [2, 3, 4];
        GradAssert.Check(v => v[0].Reshape(6, 4) * v[0].Reshape(6, 4), x => Map(x[0], a => a * a), [s]);
        GradAssert.Check(v => v[0].Permute(2, 0, 1), x =>
        {
            var y = new double[24];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) y[k * 6 + i * 3 + j] = x[0][i * 12 + j * 4 + k];
            return y;
        }, [s]);
        GradAssert.Check(v => v[0].Transpose(0, 2), x =>
        {
            var y = new double[24];
            for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 4; k++) y[k * 6 + j * 2 + i] = x[0][i * 12 + j * 4 + k];
            return y;
        }, [s]);
        GradAssert.Check(v => v[0].Slice(1, 1, 2), x =>
        {
            var y = new List<double>();
            for (int i = 0; i < 2; i++) for (int j = 1; j < 3; j++) for (int k = 0; k < 4; k++) y.Add(x[0][i * 12 + j * 4 + k]);
            return [.. y];
        }, [s]);
        GradAssert.Check(v => v[0].Narrow(1, 1), x => x[0].Skip(12).ToArray(), [s]);
        GradAssert.Check(v => Variable.Concat(1, v[0], v[1]), x =>
        {
            var y = new List<double>();
            for (int i = 0; i < 2; i++) { y.AddRange(x[0].Skip(i * 3).Take(3)); y.AddRange(x[1].Skip(i * 2).Take(2)); }
            return [.. y];
        }, [new Shape(2, 3), new Shape(2, 2)]);
        GradAssert.Check(v =>
        {
            var parts = v[0].Split(-1, 1, 3);
            return parts[0] * parts[1];
        }, x => Enumerable.Range(0, 6).SelectMany(r => Enumerable.Range(1, 3).Select(c => x[0][r * 4] * x[0][r * 4 + c])).ToArray(),
            [new Shape(6, 4)]);
    }

    [Fact]
    public void WhereAndMaskedFill()
    {
        var cond = new float[] { 1, 0, 1, 0, 0, 1 };
        using var c = Engine.Tensor.FromArray(cond, S23);
        GradAssert.Check(v => Variable.Where(c, v[0], v[1]),
            x => Broadcast(x[0], [2, 3], x[1], [3], (a, b) => 0, out _).Select((_, i) => cond[i] != 0 ? x[0][i] : x[1][i % 3]).ToArray(),
            [S23, new Shape(3)]);
        GradAssert.Check(v => v[0].MaskedFill(c, 5f), x => x[0].Select((a, i) => cond[i] != 0 ? 5 : a).ToArray(), [S23]);
    }
}
