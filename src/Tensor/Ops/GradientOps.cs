using Engine.Simd;

namespace Engine.Ops;

// Derivatives of the unary ops, as binary ops f(saved, dy) = dy · f'(·). Being ordinary binary ops, they
// run on every backend with the same broadcasting loop or kernel.

/// <summary>dy · gelu'(x), for the tanh form of GELU; a = x, b = dy.</summary>
public readonly struct GeluGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "gelu_backward";

    /// <inheritdoc/>
    public static float Apply(float x, float dy)
    {
        // gelu = 0.5x(1 + tanh u), u = c(x + kx³) ⇒ gelu' = 0.5(1 + tanh u) + 0.5x(1 − tanh²u)·c(1 + 3kx²)
        float u = Gelu.Sqrt2OverPi * (x + Gelu.Cubic * x * x * x);
        float t = MathF.Tanh(u);
        float du = Gelu.Sqrt2OverPi * (1f + 3f * Gelu.Cubic * x * x);
        return dy * (0.5f * (1f + t) + 0.5f * x * (1f - t * t) * du);
    }

    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector x, TVector dy) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        TVector c = TSimd.Broadcast(Gelu.Sqrt2OverPi), k = TSimd.Broadcast(Gelu.Cubic), half = TSimd.Broadcast(0.5f), one = TSimd.One;
        var x2 = TSimd.Multiply(x, x);
        var u = TSimd.Multiply(c, TSimd.Add(x, TSimd.Multiply(TSimd.Multiply(k, x2), x)));
        // tanh u = 2σ(2u) − 1 = 1 − 2/(1 + e^{2u}); e^{2u} overflows to ∞ for large u, which still gives 1.
        var t = TSimd.Subtract(one, TSimd.Divide(TSimd.Broadcast(2f), TSimd.Add(one, TSimd.Exp(TSimd.Add(u, u)))));
        var du = TSimd.Multiply(c, TSimd.Add(one, TSimd.Multiply(TSimd.Multiply(TSimd.Broadcast(3f), k), x2)));
        var slope = TSimd.Multiply(TSimd.Multiply(TSimd.Multiply(half, x), TSimd.Subtract(one, TSimd.Multiply(t, t))), du);
        return TSimd.Multiply(dy, TSimd.Add(TSimd.Multiply(half, TSimd.Add(one, t)), slope));
    }
}

/// <summary>dy · (1 − y²) for y = tanh x; a = y, b = dy.</summary>
public readonly struct TanhGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "tanh_backward";
    /// <inheritdoc/>
    public static float Apply(float y, float dy) => dy * (1f - y * y);
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector y, TVector dy) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Multiply(dy, TSimd.Subtract(TSimd.One, TSimd.Multiply(y, y)));
}

/// <summary>dy · y(1 − y) for y = σ(x); a = y, b = dy.</summary>
public readonly struct SigmoidGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "sigmoid_backward";
    /// <inheritdoc/>
    public static float Apply(float y, float dy) => dy * y * (1f - y);
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector y, TVector dy) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Multiply(TSimd.Multiply(dy, y), TSimd.Subtract(TSimd.One, y));
}

/// <summary>dy where x &gt; 0, else 0; a = x, b = dy.</summary>
public readonly struct ReluGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "relu_backward";
    /// <inheritdoc/>
    public static float Apply(float x, float dy) => x > 0f ? dy : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector x, TVector dy) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.GreaterThan(x, TSimd.Zero), dy);
}

/// <summary>dy · sign(x) (0 at 0); a = x, b = dy.</summary>
public readonly struct AbsGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "abs_backward";
    /// <inheritdoc/>
    public static float Apply(float x, float dy) => x > 0f ? dy : x < 0f ? -dy : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector x, TVector dy) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Subtract(TSimd.And(TSimd.GreaterThan(x, TSimd.Zero), dy), TSimd.And(TSimd.LessThan(x, TSimd.Zero), dy));
}
