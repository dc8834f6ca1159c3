using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Engine.Simd;

namespace Engine.Ops;

// Each differentiable op is followed by its derivative, a binary op f(saved, dy) = dy · f'(·): being an ordinary
// binary op, it runs on every backend with the same broadcasting loop or kernel.

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
