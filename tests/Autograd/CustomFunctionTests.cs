using Engine.Autograd;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>User-defined differentiable ops record on the tape like built-in ones, and what they return is checked.</summary>
public sealed class CustomFunctionTests
{
    /// <summary>softplus(x) = ln(1 + eˣ), d/dx = σ(x).</summary>
    sealed class Softplus(bool wrongRule = false) : CustomFunction("softplus")
    {
        protected override Tensor Forward(IReadOnlyList<Tensor> inputs)
        {
            using var e = inputs[0].Exp();
            using var onePlus = e + 1f;
            return onePlus.Log();
        }

        protected override Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput)
        {
            if (wrongRule) return [gradOutput * inputs[0]];
            using var s = inputs[0].Sigmoid();
            return [gradOutput * s];
        }
    }

    /// <summary>y = a ⊙ b², so da = g ⊙ b² and db = 2 g ⊙ a ⊙ b.</summary>
    sealed class ASquaredB() : CustomFunction("a_b_squared")
    {
        protected override Tensor Forward(IReadOnlyList<Tensor> inputs)
        {
            using var b2 = inputs[1] * inputs[1];
            return inputs[0] * b2;
        }

        protected override Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput)
        {
            using var b2 = inputs[1] * inputs[1];
            using var ab = inputs[0] * inputs[1];
            using var gab = gradOutput * ab;
            return [gradOutput * b2, gab * 2f];
        }
    }

    /// <summary>Rows of a table picked by Int32 ids: the ids get no gradient.</summary>
    sealed class Lookup() : CustomFunction("lookup")
    {
        protected override Tensor Forward(IReadOnlyList<Tensor> inputs) => Tensor.Embedding(inputs[0], inputs[1]);

        protected override Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput) =>
            [Tensor.EmbeddingScatterAdd(gradOutput, inputs[1], inputs[0].Shape[0]), null];
    }

    /// <summary>A function whose backward returns <paramref name="gradients"/> (made from the input) instead of the rule.</summary>
    sealed class Broken(Func<Tensor, Tensor?[]> gradients) : CustomFunction("broken")
    {
        protected override Tensor Forward(IReadOnlyList<Tensor> inputs) => inputs[0] * 2f;

        protected override Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput) => gradients(inputs[0]);
    }

    [Fact]
    public void SoftplusPassesGradCheckAgainstAFloat64Reference() =>
        GradAssert.Check(v => new Softplus().Apply(v[0]), x => x[0].Select(e => Math.Log(1 + Math.Exp(e))).ToArray(), [new Shape(3, 5)],
            lo: -3f, hi: 3f);

    [Fact]
    public void TwoInputOpPassesGradCheck() =>
        GradAssert.Check(v => new ASquaredB().Apply(v[0], v[1]), x => x[0].Select((a, i) => a * x[1][i] * x[1][i]).ToArray(),
            [new Shape(4, 3), new Shape(4, 3)]);

    [Fact]
    public void GradCheckWithoutAReferenceAcceptsTheRightRuleAndRejectsAWrongOne()
    {
        using var scope = TensorScope.Open();
        var x = new Variable(Tensor.FromArray(Data.Uniform(12, 3, -2f, 2f), new Shape(3, 4)), requiresGrad: true);
        var right = GradCheck.Run(v => new Softplus().Apply(v[0]), [x]);
        Assert.True(right.Passed, right.ToString());
        var wrong = GradCheck.Run(v => new Softplus(wrongRule: true).Apply(v[0]), [x]);
        Assert.False(wrong.Passed);
        Assert.Contains("MISMATCH", wrong.ToString());
        Assert.Null(x.Grad);
    }

    [Fact]
    public void CustomOpComposesWithBuiltInOps()
    {
        // loss = Σ softplus(x) ⊙ w; dloss/dx = σ(x) ⊙ w.
        using var scope = TensorScope.Open();
        var xs = Data.Uniform(6, 5);
        var ws = Data.Uniform(6, 6);
        var x = new Variable(Tensor.FromArray(xs, new Shape(2, 3)), requiresGrad: true);
        var w = new Variable(Tensor.FromArray(ws, new Shape(2, 3)));
        var y = new Softplus().Apply(x);
        Assert.Contains("softplus", y.ToString());
        (y * w).Sum().Backward();
        Tolerance.AssertClose(x.Grad!.ToArray(), xs.Select((e, i) => ws[i] / (1 + Math.Exp(-e))).ToArray(), 1e-6, 1e-5, "dx");
        x.ZeroGrad();
    }

    [Fact]
    public void IntegerAndConstantInputsGetNoGradient()
    {
        using var scope = TensorScope.Open();
        var ids = new Variable(Tensor.FromInts([3, 0, 3], new Shape(3)));
        GradAssert.Check(v => new Lookup().Apply(v[0], ids), x => [.. x[0][9..12], .. x[0][0..3], .. x[0][9..12]], [new Shape(4, 3)]);

        // A float input that requires no gradient: backward's entry for it is dropped.
        var a = new Variable(Tensor.FromArray(Data.Uniform(6, 8), new Shape(2, 3)), requiresGrad: true);
        var b = new Variable(Tensor.FromArray(Data.Uniform(6, 9), new Shape(2, 3)));
        new ASquaredB().Apply(a, b).Sum().Backward();
        Assert.NotNull(a.Grad);
        Assert.Null(b.Grad);
        a.ZeroGrad();
    }

    [Fact]
    public void BackwardOfTheWrongShapeNamesTheFunctionAndTheShapes()
    {
        using var scope = TensorScope.Open();
        var x = new Variable(Tensor.Ones(new Shape(2, 3)), requiresGrad: true);
        var y = new Broken(input => [Tensor.Ones(new Shape(3))]).Apply(x);
        var e = Assert.Throws<TensorShapeException>(() => y.Sum().Backward());
        Assert.Contains("broken", e.Message);
        Assert.Contains("[3]", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Null(x.Grad);

        var count = new Broken(input => [Tensor.Ones(new Shape(2, 3)), Tensor.Ones(new Shape(2, 3))]).Apply(x);
        var ec = Assert.Throws<TensorShapeException>(() => count.Sum().Backward());
        Assert.Contains("broken", ec.Message);
        Assert.Contains("2 gradients for 1 inputs", ec.Message);

        var ints = new Broken(input => [Tensor.FromInts([1, 2, 3, 4, 5, 6], new Shape(2, 3))]).Apply(x);
        Assert.Contains("Int32", Assert.Throws<TensorShapeException>(() => ints.Sum().Backward()).Message);
    }

    [Fact]
    public void ABackwardThatReturnsItsInputDoesNotCorruptIt()
    {
        // f(x) = 2x with the (wrong, but harmless) gradient x: two uses accumulate x + x into the leaf, not into x.
        using var scope = TensorScope.Open();
        var x = new Variable(Tensor.FromArray([1f, 2f, 3f]), requiresGrad: true);
        var f = new Broken(input => [input]);
        var loss = f.Apply(x) + f.Apply(x);
        loss.Backward(Tensor.Ones(new Shape(3)));
        Assert.Equal([2f, 4f, 6f], x.Grad!.ToArray());
        Assert.Equal([1f, 2f, 3f], x.Value.ToArray());
        x.ZeroGrad();
    }

    [Fact]
    public void AForwardThatReturnsAnInputIsRefused()
    {
        using var scope = TensorScope.Open();
        var x = new Variable(Tensor.Ones(new Shape(2)), requiresGrad: true);
        var e = Assert.Throws<InvalidOperationException>(() => new Identity().Apply(x));
        Assert.Contains("identity", e.Message);
    }

    sealed class Identity() : CustomFunction("identity")
    {
        protected override Tensor Forward(IReadOnlyList<Tensor> inputs) => inputs[0].Reshape(-1);

        protected override Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput) => [gradOutput];
    }
}
