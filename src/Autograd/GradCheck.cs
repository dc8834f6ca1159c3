using System.Globalization;
using Engine.Random;

namespace Engine.Autograd;

/// <summary>
/// Central-difference gradient checks. The function runs once through autograd with a random upstream gradient w;
/// the numerical gradient of L(x) = Σ w ⊙ f(x) comes from a float64 reference forward when one is given (which
/// checks the forward too), otherwise from the function itself in float32 with gradients off.
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// Checks the gradients that <paramref name="function"/> gives every input that requires one. The inputs are
    /// copied: their values and gradients are left as they were. Costs two forward passes per checked element.
    /// </summary>
    public static GradCheckResult Run(Func<Variable[], Variable> function, IReadOnlyList<Variable> inputs, GradCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new GradCheckOptions();
        if (!(options.Step > 0) || !(options.AbsoluteTolerance >= 0) || !(options.RelativeTolerance >= 0))
            throw new ArgumentException(
                $"gradcheck: invalid options step={options.Step}, atol={options.AbsoluteTolerance}, rtol={options.RelativeTolerance}");
        if (!inputs.Any(i => i.RequiresGrad)) throw new ArgumentException("gradcheck: no input requires a gradient");
        var x = inputs.Select(HostValues).ToArray();

        float[] output, weights;
        var analytic = new float[inputs.Count][];
        using (var scope = TensorScope.Open())
        {
            var leaves = inputs.Select(i => new Variable(i.Value.Clone(), i.RequiresGrad)).ToArray();
            var y = function(leaves);
            if (!y.RequiresGrad) throw new InvalidOperationException("gradcheck: the output does not depend on any input that requires a gradient");
            output = y.Value.ToArray();
            weights = new float[output.Length];
            for (int j = 0; j < weights.Length; j++) weights[j] = 2f * Philox.Uniform(options.Seed, (ulong)j) - 1f;
            y.Backward(Tensor.FromArray(weights, y.Shape, y.Value.Device));
            for (int i = 0; i < leaves.Length; i++)
            {
                if (inputs[i].RequiresGrad) analytic[i] = leaves[i].Grad?.ToArray() ?? new float[inputs[i].Value.Numel];
                leaves[i].ZeroGrad();
            }
        }

        double[]? referenceOutput = options.Reference?.Invoke(x);
        if (referenceOutput is not null && referenceOutput.Length != output.Length)
            throw new ArgumentException($"gradcheck: the reference gives {referenceOutput.Length} values, the function {output.Length}");
        double Loss() => options.Reference is { } reference ? Dot(weights, reference(x)) : Dot(weights, Evaluate(function, inputs, x));
        double step = options.Reference is null ? options.Step : Math.Min(options.Step, 1e-6);

        var checks = new List<InputGradient>();
        for (int i = 0; i < inputs.Count; i++)
        {
            if (!inputs[i].RequiresGrad) continue;
            var numeric = new double[x[i].Length];
            for (int j = 0; j < numeric.Length; j++)
            {
                double keep = x[i][j], h = step * Math.Max(1, Math.Abs(keep));
                // Evaluated in float32, the step actually taken is the difference of the rounded points.
                bool rounded = options.Reference is null;
                double up = rounded ? (float)(keep + h) : keep + h, down = rounded ? (float)(keep - h) : keep - h;
                x[i][j] = up;
                double lossUp = Loss();
                x[i][j] = down;
                double lossDown = Loss();
                x[i][j] = keep;
                numeric[j] = (lossUp - lossDown) / (up - down);
            }
            checks.Add(Compare(i, analytic[i], numeric, options));
        }
        return new GradCheckResult(output, referenceOutput, checks);
    }

    static double[] HostValues(Variable v) =>
        v.Value.DType == DType.Int32 ? v.Value.ToInts().Select(e => (double)e).ToArray() : v.Value.ToArray().Select(e => (double)e).ToArray();

    /// <summary>f at the host values <paramref name="x"/> (rounded to float32), with gradients off.</summary>
    static double[] Evaluate(Func<Variable[], Variable> function, IReadOnlyList<Variable> inputs, double[][] x)
    {
        using var scope = TensorScope.Open();
        using var noGrad = GradMode.NoGrad();
        var vars = new Variable[inputs.Count];
        for (int i = 0; i < vars.Length; i++)
        {
            var value = inputs[i].Value;
            vars[i] = new Variable(value.DType == DType.Float32
                ? Tensor.FromArray(x[i].Select(e => (float)e).ToArray(), value.Shape, value.Device)
                : value.Clone());
        }
        return function(vars).Value.ToArray().Select(e => (double)e).ToArray();
    }

    static InputGradient Compare(int input, float[] analytic, double[] numeric, GradCheckOptions options)
    {
        int worst = -1;
        double worstExcess = double.NegativeInfinity, worstDiff = 0;
        bool passed = true;
        for (int j = 0; j < numeric.Length; j++)
        {
            double diff = Math.Abs(analytic[j] - numeric[j]);
            double allowed = options.AbsoluteTolerance + options.RelativeTolerance * Math.Abs(numeric[j]);
            double excess = double.IsFinite(diff) ? diff - allowed : double.PositiveInfinity;
            if (!(excess <= 0)) passed = false;
            if (worst < 0 || excess > worstExcess)
            {
                worst = j;
                worstExcess = excess;
                worstDiff = diff;
            }
        }
        return new InputGradient(input, analytic, numeric, worst, worstDiff, passed);
    }

    static double Dot(float[] w, double[] y)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += w[i] * y[i];
        return s;
    }
}

/// <summary>Settings of <see cref="GradCheck.Run"/>.</summary>
public sealed record GradCheckOptions
{
    /// <summary>Allowed |analytic − numeric| beyond the relative part.</summary>
    public double AbsoluteTolerance { get; init; } = 1e-3;

    /// <summary>Allowed |analytic − numeric| as a fraction of |numeric|.</summary>
    public double RelativeTolerance { get; init; } = 1e-2;

    /// <summary>
    /// The central-difference step, relative to max(1, |x|): 1e-3 suits float32 evaluation; with a
    /// <see cref="Reference"/> the step is at most 1e-6.
    /// </summary>
    public double Step { get; init; } = 1e-3;

    /// <summary>Seed of the random upstream gradient w (uniform on [−1, 1)).</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// An optional float64 forward of the same function, taking every input's values in order (integer inputs as
    /// doubles) and returning the output's values in row-major order.
    /// </summary>
    public Func<double[][], double[]>? Reference { get; init; }
}

/// <summary>The outcome of <see cref="GradCheck.Run"/>.</summary>
/// <param name="Output">The function's float32 output at the inputs.</param>
/// <param name="ReferenceOutput">The reference forward's output, when a reference was given.</param>
/// <param name="Inputs">One comparison per input that requires a gradient.</param>
public sealed record GradCheckResult(float[] Output, double[]? ReferenceOutput, IReadOnlyList<InputGradient> Inputs)
{
    /// <summary>True when every checked gradient is within tolerance.</summary>
    public bool Passed => Inputs.All(i => i.Passed);

    /// <summary>One line per input: passed or not, and the worst element.</summary>
    public override string ToString() => string.Join(Environment.NewLine, Inputs.Select(i => i.ToString()));
}

/// <summary>The analytic and numerical gradients of one input.</summary>
/// <param name="Input">The input's position.</param>
/// <param name="Analytic">The gradient autograd computed (zeros where none reached the input).</param>
/// <param name="Numeric">The central-difference gradient.</param>
/// <param name="WorstIndex">The element farthest outside (or least inside) the tolerance.</param>
/// <param name="MaxDifference">|analytic − numeric| at <see cref="WorstIndex"/>.</param>
/// <param name="Passed">True when every element is within tolerance.</param>
public sealed record InputGradient(int Input, float[] Analytic, double[] Numeric, int WorstIndex, double MaxDifference, bool Passed)
{
    /// <summary>A line naming the input, the verdict and the worst element.</summary>
    public override string ToString() => string.Format(CultureInfo.InvariantCulture,
        "input {0}: {1}; worst at {2}: analytic {3:G9}, numeric {4:G9}, |diff| {5:G3}", Input, Passed ? "ok" : "MISMATCH", WorstIndex,
        WorstIndex >= 0 ? Analytic[WorstIndex] : double.NaN, WorstIndex >= 0 ? Numeric[WorstIndex] : double.NaN, MaxDifference);
}
