using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Engine.Simd;

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

/// <summary>e^x, exactly 1 at 0.</summary>
public readonly struct Exp : IUnaryOp
{
    /// <inheritdoc/>
    public static string Name => "exp";
    /// <inheritdoc/>
    public static float Apply(float x) => MathF.Exp(x);
    /// <inheritdoc/>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        // The vector exp may round e^0 to 1 + 2⁻²³. GRPO's first-pass ratio exp(logp − logp) must be exactly 1, as in
        // PyTorch, or a clip range of zero width would block its gradient; blocks that stay in cache get fixed up.
        const int block = 4096;
        for (int start = 0; start < x.Length; start += block)
        {
            int n = Math.Min(block, x.Length - start);
            var src = x.Slice(start, n);
            var dst = y.Slice(start, n);
            TensorPrimitives.Exp(src, dst);
            int w = System.Numerics.Vector<float>.Count, i = 0;
            for (; i + w <= n; i += w)
                if (System.Numerics.Vector.EqualsAny(new System.Numerics.Vector<float>(src.Slice(i, w)), System.Numerics.Vector<float>.Zero))
                    for (int j = i; j < i + w; j++)
                        if (src[j] == 0f) dst[j] = 1f;
            for (; i < n; i++)
                if (src[i] == 0f) dst[i] = 1f;
        }
    }
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
    public static unsafe void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"gelu: output length {y.Length} < input length {x.Length}");
        fixed (float* px = x, py = y)
        {
            if (VectorWidth.Bits == 512) Apply<Simd512, Vector512<float>>(px, py, x.Length);
            else if (VectorWidth.Bits == 256) Apply<Simd256, Vector256<float>>(px, py, x.Length);
            else Apply<Simd128, Vector128<float>>(px, py, x.Length);
        }
    }

    // The tail runs through a zero-padded vector, so every element gets the same arithmetic at every width.
    static unsafe void Apply<TSimd, TVector>(float* x, float* y, int n) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        TVector c0 = TSimd.Broadcast(-2f * Sqrt2OverPi), c1 = TSimd.Broadcast(Cubic);
        for (; i <= n - w; i += w) TSimd.Store(Vector<TSimd, TVector>(TSimd.Load(x + i), c0, c1), y + i);
        if (i == n) return;
        float* tail = stackalloc float[16];
        new Span<float>(tail, 16).Clear();
        new ReadOnlySpan<float>(x + i, n - i).CopyTo(new Span<float>(tail, n - i));
        TSimd.Store(Vector<TSimd, TVector>(TSimd.Load(tail), c0, c1), tail);
        new ReadOnlySpan<float>(tail, n - i).CopyTo(new Span<float>(y + i, n - i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVector Vector<TSimd, TVector>(TVector v, TVector c0, TVector c1) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        var cube = TSimd.Multiply(TSimd.Multiply(TSimd.Multiply(c1, v), v), v);
        var t = TSimd.Exp(TSimd.Multiply(c0, TSimd.Add(v, cube)));
        return TSimd.Divide(v, TSimd.Add(TSimd.One, t));
    }
}
