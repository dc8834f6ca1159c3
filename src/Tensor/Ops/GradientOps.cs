using System.Runtime.Intrinsics;

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
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> dy)
    {
        var c = Vector512.Create(Gelu.Sqrt2OverPi);
        var k = Vector512.Create(Gelu.Cubic);
        var half = Vector512.Create(0.5f);
        var x2 = x * x;
        var u = c * (x + k * x2 * x);
        // tanh u = 2σ(2u) − 1 = 1 − 2/(1 + e^{2u}); e^{2u} overflows to ∞ for large u, which still gives 1.
        var t = Vector512<float>.One - Vector512.Create(2f) / (Vector512<float>.One + Vector512.Exp(u + u));
        var du = c * (Vector512<float>.One + Vector512.Create(3f) * k * x2);
        return dy * (half * (Vector512<float>.One + t) + half * x * (Vector512<float>.One - t * t) * du);
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
    public static Vector512<float> Apply(Vector512<float> y, Vector512<float> dy) => dy * (Vector512<float>.One - y * y);
}

/// <summary>dy · y(1 − y) for y = σ(x); a = y, b = dy.</summary>
public readonly struct SigmoidGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "sigmoid_backward";
    /// <inheritdoc/>
    public static float Apply(float y, float dy) => dy * y * (1f - y);
    /// <inheritdoc/>
    public static Vector512<float> Apply(Vector512<float> y, Vector512<float> dy) => dy * y * (Vector512<float>.One - y);
}

/// <summary>dy where x &gt; 0, else 0; a = x, b = dy.</summary>
public readonly struct ReluGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "relu_backward";
    /// <inheritdoc/>
    public static float Apply(float x, float dy) => x > 0f ? dy : 0f;
    /// <inheritdoc/>
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> dy) => Vector512.GreaterThan(x, Vector512<float>.Zero) & dy;
}

/// <summary>dy · sign(x) (0 at 0); a = x, b = dy.</summary>
public readonly struct AbsGrad : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "abs_backward";
    /// <inheritdoc/>
    public static float Apply(float x, float dy) => x > 0f ? dy : x < 0f ? -dy : 0f;
    /// <inheritdoc/>
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> dy) =>
        (Vector512.GreaterThan(x, Vector512<float>.Zero) & dy) - (Vector512.LessThan(x, Vector512<float>.Zero) & dy);
}
