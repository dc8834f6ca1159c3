using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Engine.Ops;

/// <summary>-x</summary>
public readonly struct Neg : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "neg";
    /// <inheritdoc/>
    public static float Apply(float x) => -x;
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Negate(x, y);
}

/// <summary>|x|</summary>
public readonly struct Abs : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "abs";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Abs(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Abs(x, y);
}

/// <summary>e^x</summary>
public readonly struct Exp : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "exp";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Exp(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Exp(x, y);
}

/// <summary>ln x</summary>
public readonly struct Log : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "log";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Log(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Log(x, y);
}

/// <summary>√x</summary>
public readonly struct Sqrt : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "sqrt";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Sqrt(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sqrt(x, y);
}

/// <summary>1/√x</summary>
public readonly struct Rsqrt : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "rsqrt";
    /// <inheritdoc/>
    public static float Apply(float x) => 1f / MathF.Sqrt(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        TensorPrimitives.Sqrt(x, y);
        TensorPrimitives.Reciprocal(y, y);
    }
}

/// <summary>tanh x</summary>
public readonly struct Tanh : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "tanh";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Tanh(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Tanh(x, y);
}

/// <summary>1/(1+e^-x)</summary>
public readonly struct Sigmoid : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "sigmoid";
    /// <inheritdoc/>
    public static float Apply(float x) => 1f / (1f + MathF.Exp(-x));
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sigmoid(x, y);
}

/// <summary>max(x, 0)</summary>
public readonly struct Relu : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "relu";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Max(x, 0f); // NaN propagates, as in the SIMD path and PyTorch
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);
}

/// <summary>
/// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). Evaluated as x·σ(2u), an exact identity
/// that avoids the cancellation of 1 + tanh(u) for large negative x.
/// </summary>
public readonly struct Gelu : IUnaryOp
{
    internal const float Sqrt2OverPi = 0.7978845608028654f;
    internal const float Cubic = 0.044715f;

    /// <inheritdoc/>
    public static string Name => "gelu";

    /// <inheritdoc/>
    public static float Apply(float x)
    {
        float u = Sqrt2OverPi * (x + Cubic * x * x * x);
        return x / (1f + MathF.Exp(-2f * u));
    }

    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        var c0 = Vector512.Create(-2f * Sqrt2OverPi);
        var c1 = Vector512.Create(Cubic);
        for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            var v = Vector512.Create(x.Slice(i, Vector512<float>.Count));
            var t = Vector512.Exp(c0 * (v + c1 * v * v * v));
            (v / (Vector512<float>.One + t)).CopyTo(y.Slice(i));
        }
        for (; i < x.Length; i++) y[i] = Apply(x[i]);
    }
}
