using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Tests.Support;

namespace Engine.Tests;

public class AutogradBehaviourTests
{
    static Variable Param(float[] data, params int[] shape) => Variable.Parameter(Engine.Tensor.FromArray(data, shape));

    [Fact]
    public void GradientsAccumulateAcrossBackwardCallsUntilZeroGrad()
    {
        // y = 3x ⇒ dy/dx = 3 per call
        using var x = Param([1f, 2f], 2);
        for (int i = 1; i <= 3; i++)
        {
            using var scope = TensorScope.Open();
            (x * 3f).Sum().Backward();
            Tolerance.AssertClose(x.Grad!.ToArray(), [3.0 * i, 3.0 * i], 0, 0);
        }
        x.ZeroGrad();
        Assert.Null(x.Grad);
    }

    [Fact]
    public void NoGradAndDetachRecordNothing()
    {
        using var x = Param([1f, 2f], 2);
        using var scope = TensorScope.Open();
        using (GradMode.NoGrad()) Assert.False((x * 2f).RequiresGrad);
        var d = x.Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        // y = x·detach(x): only the live factor carries gradient, dy/dx = detach(x)
        (x * d).Sum().Backward();
        Tolerance.AssertClose(x.Grad!.ToArray(), [1.0, 2.0], 0, 0);
    }

    [Fact]
    public void BackwardOnANonScalarNeedsAGradient()
    {
        using var x = Param([1f, 2f], 2);
        using var scope = TensorScope.Open();
        var e = Assert.Throws<InvalidOperationException>(() => (x * 2f).Backward());
        Assert.Contains("[2]", e.Message);
        Assert.Contains("explicit gradient", e.Message);
    }

    [Fact]
    public void ModifyingASavedTensorInPlaceIsDetected()
    {
        using var x = Param([1f, 2f], 2);
        using var scope = TensorScope.Open();
        var y = x.Exp();              // saves its output
        var loss = y.Sum();
        y.Value.MulInPlace(2f);       // corrupts what backward needs
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("exp", e.Message);
        Assert.Contains("modified in place", e.Message);
    }

    [Fact]
    public void UpdatingAParameterBeforeBackwardIsDetected()
    {
        using var w = Param([1f, 2f], 2);
        using var scope = TensorScope.Open();
        var loss = (w * w).Sum();
        w.Value.AddInPlace(Engine.Tensor.Ones(new Shape(2)));
        Assert.Throws<InvalidOperationException>(() => loss.Backward());
    }

    [Fact]
    public void ShapeErrorsNameTheOpAndShapes()
    {
        using var a = Param(new float[6], 2, 3);
        using var b = Param(new float[8], 4, 2);
        using var scope = TensorScope.Open();
        var e = Assert.Throws<TensorShapeException>(() => Variable.Matmul(a, b));
        Assert.Contains("matmul", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 2]", e.Message);
        e = Assert.Throws<TensorShapeException>(() => Variable.Linear(a, b));
        Assert.Contains("linear", e.Message);
    }

    [Fact]
    public void SecondBackwardNeedsRetainGraph()
    {
        using var x = Param([1f, 2f], 2);
        using var scope = TensorScope.Open();
        var loss = (x * x).Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        Tolerance.AssertClose(x.Grad!.ToArray(), [4.0, 8.0], 0, 0); // 2 · 2x
        Assert.Throws<InvalidOperationException>(() => loss.Backward());
    }

    // ---- fused ops against the compositions they replace --------------------------------------

    static void SameGradients(Func<Variable[], Variable> fused, Func<Variable[], Variable> composed, Shape[] shapes, double atol = 1e-5,
        double rtol = 1e-4)
    {
        using var scope = TensorScope.Open();
        Variable[] Make() => shapes.Select((s, i) => new Variable(Engine.Tensor.FromArray(Data.Uniform(s.Numel, 5 + i, -2, 2), s), true)).ToArray();
        var a = Make();
        var b = Make();
        var ya = fused(a);
        var yb = composed(b);
        Tolerance.AssertClose(ya.Value.ToArray(), yb.Value.ToArray(), atol, rtol, "forward");
        var w = Engine.Tensor.FromArray(Data.Uniform(ya.Value.Numel, 99), ya.Shape);
        ya.Backward(w);
        yb.Backward(w);
        for (int i = 0; i < a.Length; i++) Tolerance.AssertClose(a[i].Grad!.ToArray(), b[i].Grad!.ToArray(), atol, rtol, $"gradient {i}");
        foreach (var leaf in a.Concat(b)) leaf.ZeroGrad();
    }

    [Fact]
    public void FusedLayerNormMatchesComposition() => SameGradients(
        v => Variable.LayerNorm(v[0], v[1], v[2]),
        v =>
        {
            var centred = v[0] - v[0].Mean(-1, keepDim: true);
            var variance = (centred * centred).Mean(-1, keepDim: true);
            return centred * (variance + 1e-5f).Rsqrt() * v[1] + v[2];
        },
        [new Shape(5, 16), new Shape(16), new Shape(16)]);

    [Fact]
    public void FusedCrossEntropyMatchesLogSoftmaxComposition()
    {
        int[] targets = [3, 0, 7, 7, 1];
        using var t = Engine.Tensor.FromInts(targets, new Shape(5));
        var onehot = new float[5 * 8];
        for (int r = 0; r < 5; r++) onehot[r * 8 + targets[r]] = 1f;
        using var oh = Engine.Tensor.FromArray(onehot, new Shape(5, 8));
        SameGradients(v => Variable.CrossEntropy(v[0], t), v => -(v[0].LogSoftmax() * new Variable(oh.Clone())).Sum() / 5f, [new Shape(5, 8)]);
    }

    [Fact]
    public void FusedAttentionMatchesComposition()
    {
        using var mask = Engine.Tensor.FromArray(Data.Uniform(25, 4), new Shape(5, 5));
        SameGradients(
            v => Variable.Attention(v[0], v[1], v[2], mask, causal: true),
            v =>
            {
                using var causal = Variable.CausalMask(5, 5);
                using var total = mask + causal;
                var scores = Variable.Matmul(v[0], v[1], transB: true) * (1f / MathF.Sqrt(4)) + new Variable(total.Clone());
                return Variable.Matmul(scores.Softmax(), v[2]);
            },
            [new Shape(2, 3, 5, 4), new Shape(2, 3, 5, 4), new Shape(2, 3, 5, 4)]);
    }

    [Fact]
    public void FusedGeluAndLinearMatchCompositions()
    {
        SameGradients(v => v[0].Gelu(), v =>
        {
            var x = v[0];
            var u = (x + x * x * x * 0.044715f) * 0.7978845608f;
            return x * 0.5f * (u.Tanh() + 1f);
        }, [new Shape(4, 9)]);
        SameGradients(v => Variable.BiasGelu(v[0], v[1]), v => (v[0] + v[1]).Gelu(), [new Shape(4, 9), new Shape(9)]);
        SameGradients(v => Variable.Linear(v[0], v[1], v[2]), v => Variable.Matmul(v[0], v[1]) + v[2],
            [new Shape(2, 3, 6), new Shape(6, 5), new Shape(5)]);
    }

    // ---- optimizers ---------------------------------------------------------------------------

    [Fact]
    public void AdamWMatchesHandComputedSteps()
    {
        using var p = Param([1f, -2f], 2);
        using var opt = new AdamW([p], lr: 0.1f, beta1: 0.9f, beta2: 0.99f, eps: 1e-8f, weightDecay: 0.5f);
        double[] w = [1, -2], m = [0, 0], v = [0, 0];
        for (int t = 1; t <= 3; t++)
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            (p * p).Sum().Backward(); // g = 2p
            opt.Step();
            for (int i = 0; i < 2; i++)
            {
                double g = 2 * w[i];
                w[i] -= 0.1 * 0.5 * w[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.99 * v[i] + 0.01 * g * g;
                double mh = m[i] / (1 - Math.Pow(0.9, t)), vh = v[i] / (1 - Math.Pow(0.99, t));
                w[i] -= 0.1 * mh / (Math.Sqrt(vh) + 1e-8);
            }
            Tolerance.AssertClose(p.Value.ToArray(), w, 1e-6, 1e-5, $"step {t}");
        }
    }

    [Fact]
    public void SgdWithMomentumMatchesHandComputedSteps()
    {
        using var p = Param([1f], 1);
        using var opt = new Sgd([p], lr: 0.1f, momentum: 0.9f);
        double w = 1, b = 0;
        for (int t = 0; t < 3; t++)
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            (p * p).Sum().Backward();
            opt.Step();
            double g = 2 * w;
            b = t == 0 ? g : 0.9 * b + g;
            w -= 0.1 * b;
            Tolerance.AssertClose(p.Value.ToArray(), [w], 1e-6, 1e-6);
        }
    }

    [Fact]
    public void ClipGradNormScalesToTheLimit()
    {
        using var a = Param([3f], 1);
        using var b = Param([4f], 1);
        using var opt = new Sgd([a, b], lr: 0f);
        using var scope = TensorScope.Open();
        (a * a * 0.5f + b * b * 0.5f).Sum().Backward(); // grads 3, 4: norm 5
        Assert.Equal(5f, opt.ClipGradNorm(1f), 5);
        Tolerance.AssertClose(a.Grad!.ToArray(), [0.6], 1e-6, 1e-5);
        Tolerance.AssertClose(b.Grad!.ToArray(), [0.8], 1e-6, 1e-5);
    }

    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        Assert.Equal(0.5f, LrSchedule.Constant(0.5f).At(100));
        var warm = LrSchedule.LinearWarmup(1f, 4);
        Assert.Equal(0.25f, warm.At(0));
        Assert.Equal(1f, warm.At(3));
        Assert.Equal(1f, warm.At(50));
        var cos = LrSchedule.Cosine(1f, 2, 12, 0.1f);
        Assert.Equal(1f, cos.At(2), 6);
        Assert.Equal(0.55f, cos.At(7), 5);  // halfway: min + (peak − min)/2
        Assert.Equal(0.1f, cos.At(12), 6);
    }

    [Fact]
    public void OptimizerStateRestoresExactly()
    {
        float[] init = Data.Uniform(10, 3);
        float[] Run(int steps, Dictionary<string, float[]>? resumeFrom, float[] start, out Dictionary<string, float[]> state)
        {
            using var p = Param(start, 10);
            using var opt = new AdamW([p], lr: 0.05f);
            if (resumeFrom is not null) opt.ImportState(resumeFrom);
            for (int i = 0; i < steps; i++)
            {
                using var scope = TensorScope.Open();
                opt.ZeroGrad();
                (p * p * p).Sum().Backward();
                opt.Step();
            }
            state = opt.ExportState();
            return p.Value.ToArray();
        }
        var straight = Run(6, null, init, out _);
        var half = Run(3, null, init, out var state);
        var resumed = Run(3, state, half, out _);
        Assert.Equal(straight, resumed); // bit for bit
    }
}

/// <summary>Counts live storages process-wide, so it must not run beside other tests.</summary>
[CollectionDefinition(nameof(MemoryTests), DisableParallelization = true)]
[Collection(nameof(MemoryTests))]
public class MemoryTests
{
    static Variable Param(float[] data, params int[] shape) => Variable.Parameter(Engine.Tensor.FromArray(data, shape));

    [Fact]
    public void ATrainingLoopOf1000StepsDoesNotGrowMemory()
    {
        using var w1 = Param(Data.Uniform(32 * 16, 1, -0.3f, 0.3f), 32, 16);
        using var b1 = Param(new float[16], 16);
        using var w2 = Param(Data.Uniform(16 * 4, 2, -0.3f, 0.3f), 16, 4);
        using var x = Engine.Tensor.FromArray(Data.Uniform(8 * 32, 3), new Shape(8, 32));
        using var t = Engine.Tensor.FromInts(Data.Ints(8, 4, 0, 4), new Shape(8));
        using var opt = new AdamW([w1, b1, w2], lr: 1e-2f);
        long after10 = 0;
        float first = 0, last = 0;
        for (int step = 0; step < 1000; step++)
        {
            using (var scope = TensorScope.Open())
            {
                opt.ZeroGrad();
                var h = Variable.BiasGelu(Variable.Linear(new Variable(x.Reshape(8, 32)), w1), b1);
                var loss = Variable.CrossEntropy(Variable.Linear(h, w2), t);
                loss.Backward();
                opt.ClipGradNorm(1f);
                opt.Step();
                last = loss.Value.ToScalar();
                if (step == 0) first = last;
            }
            if (step == 10) after10 = Engine.Tensor.LiveStorageCount;
        }
        Assert.Equal(after10, Engine.Tensor.LiveStorageCount);
        Assert.True(last < first * 0.5f, $"the loop should learn: loss {first} → {last}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WhatAnOpKeepsForItsBackwardIsFreedWithoutAScope(bool backward)
    {
        // Layer norm keeps its statistics and composed attention its probabilities: no scope is open here, so only the
        // graph (after Backward) or the op itself (when nothing is recorded) can free them.
        using var x = Param(Data.Uniform(2 * 3 * 4, 5), 2, 3, 4);
        using var w = Param(Data.Uniform(4, 6, 0.5f, 1.5f), 4);
        using var b = Param(new float[4], 4);
        long before = Engine.Tensor.LiveStorageCount;
        using (backward ? null : (IDisposable)GradMode.NoGrad())
        {
            using var normed = Variable.LayerNorm(x, w, b);
            using var attended = Variable.Attention(normed, normed, normed, AttentionMask.Causal);
            using var loss = attended.Sum();
            if (backward) loss.Backward();
        }
        x.ZeroGrad();
        w.ZeroGrad();
        b.ZeroGrad();
        Assert.Equal(before, Engine.Tensor.LiveStorageCount);
    }
}
