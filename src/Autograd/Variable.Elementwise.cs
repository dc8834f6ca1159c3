using Engine.Ops;

namespace Engine.Autograd;

// Element-wise ops and their gradient rules, forward and backward side by side.
public sealed partial class Variable
{
    /// <summary>−x</summary>
    public Variable Neg() => Record("neg", Value.Neg(), [this], g => [g.Neg()]);

    /// <summary>|x|</summary>
    public Variable Abs() => Record("abs", Value.Abs(), [this], g => [Tensor.Zip<AbsGrad>(Value, g)], Value);

    /// <summary>e^x</summary>
    public Variable Exp()
    {
        var y = Value.Exp();
        return Record("exp", y, [this], g => [g * y], y);
    }

    /// <summary>ln x</summary>
    public Variable Log() => Record("log", Value.Log(), [this], g => [g / Value], Value);

    /// <summary>√x</summary>
    public Variable Sqrt()
    {
        var y = Value.Sqrt();
        return Record("sqrt", y, [this], g =>
        {
            using var half = g * 0.5f;
            return [half / y];
        }, y);
    }

    /// <summary>1/√x</summary>
    public Variable Rsqrt()
    {
        var y = Value.Rsqrt();
        return Record("rsqrt", y, [this], g =>
        {
            // d/dx x^(−1/2) = −½ y³
            using var y2 = y * y;
            using var y3 = y2 * y;
            using var t = g * y3;
            return [t * -0.5f];
        }, y);
    }

    /// <summary>tanh x</summary>
    public Variable Tanh()
    {
        var y = Value.Tanh();
        return Record("tanh", y, [this], g => [Tensor.Zip<TanhGrad>(y, g)], y);
    }

    /// <summary>Logistic sigmoid.</summary>
    public Variable Sigmoid()
    {
        var y = Value.Sigmoid();
        return Record("sigmoid", y, [this], g => [Tensor.Zip<SigmoidGrad>(y, g)], y);
    }

    /// <summary>max(x, 0)</summary>
    public Variable Relu() => Record("relu", Value.Relu(), [this], g => [Tensor.Zip<ReluGrad>(Value, g)], Value);

    /// <summary>GELU, tanh form.</summary>
    public Variable Gelu() => Record("gelu", Value.Gelu(), [this], g => [Tensor.Zip<GeluGrad>(Value, g)], Value);

    /// <summary>gelu(x + bias), fused; bias broadcasts along the last axis.</summary>
    public static Variable BiasGelu(Variable x, Variable bias) =>
        Record("bias_gelu", x.Value.BiasGelu(bias.Value), [x, bias], g =>
        {
            using var u = x.Value + bias.Value;
            var du = Tensor.Zip<GeluGrad>(u, g);
            return [du, bias.RequiresGrad ? Tensor.SumTo(du, bias.Shape) : null];
        }, x.Value, bias.Value);

    /// <summary>g summed back to v's shape; g itself when no reduction is needed (the backward pass then hands it on without a copy).</summary>
    static Tensor? Reduce(Variable v, Tensor g) => !v.RequiresGrad ? null : v.Shape == g.Shape ? g : Tensor.SumTo(g, v.Shape);

    static Tensor? ReduceOwned(Variable v, Tensor g)
    {
        var r = Reduce(v, g);
        if (!ReferenceEquals(r, g)) g.Dispose();
        return r;
    }

    /// <summary>a + b (broadcasting)</summary>
    public static Variable operator +(Variable a, Variable b) =>
        Record("add", a.Value + b.Value, [a, b], g => [Reduce(a, g), Reduce(b, g)]);

    /// <summary>a − b (broadcasting)</summary>
    public static Variable operator -(Variable a, Variable b) =>
        Record("sub", a.Value - b.Value, [a, b], g => [Reduce(a, g), b.RequiresGrad ? ReduceOwned(b, g.Neg()) : null]);

    /// <summary>a · b (broadcasting)</summary>
    public static Variable operator *(Variable a, Variable b) =>
        Record("mul", a.Value * b.Value, [a, b], g =>
            [a.RequiresGrad ? ReduceOwned(a, g * b.Value) : null, b.RequiresGrad ? ReduceOwned(b, g * a.Value) : null],
            a.Value, b.Value);

    /// <summary>a / b (broadcasting)</summary>
    public static Variable operator /(Variable a, Variable b)
    {
        var y = a.Value / b.Value;
        return Record("div", y, [a, b], g =>
        {
            Tensor? gb = null;
            if (b.RequiresGrad)
            {
                // d(a/b)/db = −(a/b)/b
                using var gy = g * y;
                using var t = gy / b.Value;
                gb = ReduceOwned(b, t.Neg());
            }
            return [a.RequiresGrad ? ReduceOwned(a, g / b.Value) : null, gb];
        }, y, b.Value);
    }

    /// <summary>Element-wise maximum; at ties each input receives half the gradient (as in PyTorch).</summary>
    public static Variable Maximum(Variable a, Variable b) => MinMax(a, b, max: true);

    /// <summary>Element-wise minimum; at ties each input receives half the gradient.</summary>
    public static Variable Minimum(Variable a, Variable b) => MinMax(a, b, max: false);

    static Variable MinMax(Variable a, Variable b, bool max)
    {
        var y = max ? Tensor.Maximum(a.Value, b.Value) : Tensor.Minimum(a.Value, b.Value);
        return Record(max ? "maximum" : "minimum", y, [a, b], g =>
        {
            // share of a = [a wins] + ½[tie]
            using var wins = max ? Tensor.Gt(a.Value, b.Value) : Tensor.Lt(a.Value, b.Value);
            using var ties = Tensor.Eq(a.Value, b.Value);
            using var halfTies = ties * 0.5f;
            using var shareA = wins + halfTies;
            using var shareB = 1f - shareA;
            return [a.RequiresGrad ? ReduceOwned(a, g * shareA) : null, b.RequiresGrad ? ReduceOwned(b, g * shareB) : null];
        }, a.Value, b.Value);
    }

    /// <summary>
    /// x clipped to [<paramref name="low"/>, <paramref name="high"/>]. The gradient passes wherever low ≤ x ≤ high,
    /// bounds included, as PyTorch's clamp does (a composition of <see cref="Minimum"/> and <see cref="Maximum"/>
    /// would halve it at each bound).
    /// </summary>
    public static Variable Clamp(Variable x, float low, float high)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (!(low <= high)) throw new ArgumentException($"clamp: low {low} must not exceed high {high}");
        using var lo = Tensor.Scalar(low, x.Value.Device);
        using var hi = Tensor.Scalar(high, x.Value.Device);
        using var capped = Tensor.Minimum(x.Value, hi);
        return Record("clamp", Tensor.Maximum(capped, lo), [x], g =>
        {
            using var lowBound = Tensor.Scalar(low, x.Value.Device);
            using var highBound = Tensor.Scalar(high, x.Value.Device);
            using var below = Tensor.Lt(x.Value, lowBound);
            using var above = Tensor.Gt(x.Value, highBound);
            using var outside = below + above;
            using var inside = 1f - outside;
            return [g * inside];
        }, x.Value);
    }

    /// <summary>x + s</summary>
    public static Variable operator +(Variable x, float s) => Record("add_scalar", x.Value + s, [x], g => [g]);
    /// <summary>s + x</summary>
    public static Variable operator +(float s, Variable x) => x + s;
    /// <summary>x − s</summary>
    public static Variable operator -(Variable x, float s) => Record("sub_scalar", x.Value - s, [x], g => [g]);
    /// <summary>s − x</summary>
    public static Variable operator -(float s, Variable x) => Record("rsub_scalar", s - x.Value, [x], g => [g.Neg()]);
    /// <summary>x · s</summary>
    public static Variable operator *(Variable x, float s) => Record("mul_scalar", x.Value * s, [x], g => [g * s]);
    /// <summary>s · x</summary>
    public static Variable operator *(float s, Variable x) => x * s;
    /// <summary>x / s</summary>
    public static Variable operator /(Variable x, float s) => Record("div_scalar", x.Value / s, [x], g => [g / s]);
    /// <summary>−x</summary>
    public static Variable operator -(Variable x) => x.Neg();

    /// <summary>cond ≠ 0 ? a : b, all broadcast together; the condition is a constant.</summary>
    public static Variable Where(Tensor cond, Variable a, Variable b) =>
        Record("where", Tensor.Where(cond, a.Value, b.Value), [a, b], g =>
        {
            using var zero = Tensor.Zeros(new Shape(), g.Device);
            return [a.RequiresGrad ? ReduceOwned(a, Tensor.Where(cond, g, zero)) : null,
                    b.RequiresGrad ? ReduceOwned(b, Tensor.Where(cond, zero, g)) : null];
        }, cond);

    /// <summary>A copy with <paramref name="value"/> where <paramref name="mask"/> ≠ 0; no gradient flows there.</summary>
    public Variable MaskedFill(Tensor mask, float value) =>
        Record("masked_fill", Value.MaskedFill(mask, value), [this], g => [g.MaskedFill(mask, 0f)], mask);
}
