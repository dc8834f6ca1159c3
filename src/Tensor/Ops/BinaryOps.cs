using Engine.Simd;

namespace Engine.Ops;

/// <summary>a + b</summary>
public readonly struct Add : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "add";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a + b;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Add(a, b);
}

/// <summary>a - b</summary>
public readonly struct Sub : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "sub";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a - b;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Subtract(a, b);
}

/// <summary>a · b</summary>
public readonly struct Mul : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "mul";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a * b;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Multiply(a, b);
}

/// <summary>a / b</summary>
public readonly struct Div : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "div";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a / b;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Divide(a, b);
}

/// <summary>max(a, b); NaN if either is NaN.</summary>
public readonly struct Maximum : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "maximum";
    // The explicit NaN test keeps NaN propagating on GPUs too, where MathF.Max compiles to max.f32, which drops it.
    /// <inheritdoc/>
    public static float Apply(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : MathF.Max(a, b);
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Max(a, b);
}

/// <summary>min(a, b); NaN if either is NaN.</summary>
public readonly struct Minimum : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "minimum";
    // As in Maximum: min.f32 drops NaN.
    /// <inheritdoc/>
    public static float Apply(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : MathF.Min(a, b);
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.Min(a, b);
}

/// <summary>1 where a = b, else 0.</summary>
public readonly struct Equal : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "eq";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a == b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.Equals(a, b), TSimd.One);
}

/// <summary>1 where a ≠ b, else 0.</summary>
public readonly struct NotEqual : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "ne";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a != b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.Not(TSimd.Equals(a, b)), TSimd.One);
}

/// <summary>1 where a &lt; b, else 0.</summary>
public readonly struct Less : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "lt";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a < b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.LessThan(a, b), TSimd.One);
}

/// <summary>1 where a ≤ b, else 0.</summary>
public readonly struct LessOrEqual : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "le";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a <= b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.LessThanOrEqual(a, b), TSimd.One);
}

/// <summary>1 where a &gt; b, else 0.</summary>
public readonly struct Greater : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "gt";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a > b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.GreaterThan(a, b), TSimd.One);
}

/// <summary>1 where a ≥ b, else 0.</summary>
public readonly struct GreaterOrEqual : IBinaryOp
{
    /// <inheritdoc/>
    public static string Name => "ge";
    /// <inheritdoc/>
    public static float Apply(float a, float b) => a >= b ? 1f : 0f;
    /// <inheritdoc/>
    public static TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct =>
        TSimd.And(TSimd.GreaterThanOrEqual(a, b), TSimd.One);
}
