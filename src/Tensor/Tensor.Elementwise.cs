using Engine.Ops;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>y = f(x) for any <see cref="IUnaryOp"/>.</summary>
    public Tensor Map<TOp>() where TOp : struct, IUnaryOp
    {
        RequireDType(DType.Float32, TOp.Name);
        var y = UninitializedLike();
        if (Numel > 0) Backend.Unary<TOp>(this, y);
        return y;
    }

    /// <summary>−x</summary>
    public Tensor Neg() => Map<Neg>();
    /// <summary>|x|</summary>
    public Tensor Abs() => Map<Abs>();
    /// <summary>e^x</summary>
    public Tensor Exp() => Map<Exp>();
    /// <summary>ln x</summary>
    public Tensor Log() => Map<Log>();
    /// <summary>√x</summary>
    public Tensor Sqrt() => Map<Sqrt>();
    /// <summary>1/√x</summary>
    public Tensor Rsqrt() => Map<Rsqrt>();
    /// <summary>tanh x</summary>
    public Tensor Tanh() => Map<Tanh>();
    /// <summary>Logistic sigmoid.</summary>
    public Tensor Sigmoid() => Map<Sigmoid>();
    /// <summary>max(x, 0)</summary>
    public Tensor Relu() => Map<Relu>();
    /// <summary>GELU, tanh form (GPT-2's).</summary>
    public Tensor Gelu() => Map<Gelu>();

    /// <summary>f(a, b) for any <see cref="IBinaryOp"/>, with NumPy broadcasting.</summary>
    public static Tensor Zip<TOp>(Tensor a, Tensor b) where TOp : struct, IBinaryOp
    {
        a.RequireDType(DType.Float32, TOp.Name);
        b.RequireDType(DType.Float32, TOp.Name);
        a.RequireSameDevice(b, TOp.Name);
        var plan = Broadcast.Create(TOp.Name, a.Shape, b.Shape);
        var y = Uninitialized(plan.Output, a.Device);
        if (y.Numel > 0) a.Backend.Binary<TOp>(a, b, y, plan);
        return y;
    }

    static Tensor Zip<TOp>(Tensor a, float b) where TOp : struct, IBinaryOp
    {
        using var s = Scalar(b, a.Device);
        return Zip<TOp>(a, s);
    }

    static Tensor Zip<TOp>(float a, Tensor b) where TOp : struct, IBinaryOp
    {
        using var s = Scalar(a, b.Device);
        return Zip<TOp>(s, b);
    }

    /// <summary>a + b</summary>
    public static Tensor Add(Tensor a, Tensor b) => Zip<Add>(a, b);
    /// <summary>a − b</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Zip<Sub>(a, b);
    /// <summary>a · b</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Zip<Mul>(a, b);
    /// <summary>a / b</summary>
    public static Tensor Div(Tensor a, Tensor b) => Zip<Div>(a, b);
    /// <summary>Element-wise maximum.</summary>
    public static Tensor Maximum(Tensor a, Tensor b) => Zip<Maximum>(a, b);
    /// <summary>Element-wise minimum.</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => Zip<Minimum>(a, b);

    /// <summary>1 where a = b, else 0.</summary>
    public static Tensor Eq(Tensor a, Tensor b) => Zip<Equal>(a, b);
    /// <summary>1 where a ≠ b, else 0.</summary>
    public static Tensor Ne(Tensor a, Tensor b) => Zip<NotEqual>(a, b);
    /// <summary>1 where a &lt; b, else 0.</summary>
    public static Tensor Lt(Tensor a, Tensor b) => Zip<Less>(a, b);
    /// <summary>1 where a ≤ b, else 0.</summary>
    public static Tensor Le(Tensor a, Tensor b) => Zip<LessOrEqual>(a, b);
    /// <summary>1 where a &gt; b, else 0.</summary>
    public static Tensor Gt(Tensor a, Tensor b) => Zip<Greater>(a, b);
    /// <summary>1 where a ≥ b, else 0.</summary>
    public static Tensor Ge(Tensor a, Tensor b) => Zip<GreaterOrEqual>(a, b);

    /// <summary>1 where x = v, else 0.</summary>
    public Tensor Eq(float v) => Zip<Equal>(this, v);
    /// <summary>1 where x &lt; v, else 0.</summary>
    public Tensor Lt(float v) => Zip<Less>(this, v);
    /// <summary>1 where x &gt; v, else 0.</summary>
    public Tensor Gt(float v) => Zip<Greater>(this, v);

    /// <summary>a + b</summary>
    public static Tensor operator +(Tensor a, Tensor b) => Zip<Add>(a, b);
    /// <summary>a − b</summary>
    public static Tensor operator -(Tensor a, Tensor b) => Zip<Sub>(a, b);
    /// <summary>a · b</summary>
    public static Tensor operator *(Tensor a, Tensor b) => Zip<Mul>(a, b);
    /// <summary>a / b</summary>
    public static Tensor operator /(Tensor a, Tensor b) => Zip<Div>(a, b);
    /// <summary>a + s</summary>
    public static Tensor operator +(Tensor a, float s) => Zip<Add>(a, s);
    /// <summary>a − s</summary>
    public static Tensor operator -(Tensor a, float s) => Zip<Sub>(a, s);
    /// <summary>a · s</summary>
    public static Tensor operator *(Tensor a, float s) => Zip<Mul>(a, s);
    /// <summary>a / s</summary>
    public static Tensor operator /(Tensor a, float s) => Zip<Div>(a, s);
    /// <summary>s + a</summary>
    public static Tensor operator +(float s, Tensor a) => Zip<Add>(s, a);
    /// <summary>s − a</summary>
    public static Tensor operator -(float s, Tensor a) => Zip<Sub>(s, a);
    /// <summary>s · a</summary>
    public static Tensor operator *(float s, Tensor a) => Zip<Mul>(s, a);
    /// <summary>s / a</summary>
    public static Tensor operator /(float s, Tensor a) => Zip<Div>(s, a);
    /// <summary>−a</summary>
    public static Tensor operator -(Tensor a) => a.Neg();

    /// <summary>this = f(this, other) in place; <paramref name="other"/> broadcasts to this tensor's shape.</summary>
    public void ZipInPlace<TOp>(Tensor other) where TOp : struct, IBinaryOp
    {
        RequireDType(DType.Float32, TOp.Name + "_");
        other.RequireDType(DType.Float32, TOp.Name + "_");
        RequireSameDevice(other, TOp.Name + "_");
        var plan = Broadcast.Create(TOp.Name + "_", Shape, other.Shape);
        if (plan.Output != Shape) throw new TensorShapeException(TOp.Name + "_", $"{other.Shape} does not broadcast to the in-place target {Shape}");
        if (Numel == 0) return;
        Backend.Binary<TOp>(this, other, this, plan);
        MarkWritten();
    }

    /// <summary>this += other, in place (other broadcasts).</summary>
    public void AddInPlace(Tensor other) => ZipInPlace<Add>(other);

    /// <summary>this ·= s, in place.</summary>
    public void MulInPlace(float s)
    {
        using var t = Scalar(s, Device);
        ZipInPlace<Mul>(t);
    }

    /// <summary>Sets every element to <paramref name="value"/>, in place.</summary>
    public void Fill(float value)
    {
        RequireDType(DType.Float32, "fill_");
        if (Numel > 0) Backend.Fill(this, value);
        MarkWritten();
    }

    /// <summary>cond ≠ 0 ? a : b, with all three broadcast together.</summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        cond.RequireDType(DType.Float32, "where");
        a.RequireDType(DType.Float32, "where");
        b.RequireDType(DType.Float32, "where");
        cond.RequireSameDevice(a, "where");
        cond.RequireSameDevice(b, "where");
        var plan = Broadcast.Create("where", cond.Shape, a.Shape, b.Shape);
        var y = Uninitialized(plan.Output, a.Device);
        if (y.Numel > 0) a.Backend.Where(cond, a, b, y, plan);
        return y;
    }

    /// <summary>A copy with <paramref name="value"/> wherever <paramref name="mask"/> ≠ 0 (mask broadcasts to this shape).</summary>
    public Tensor MaskedFill(Tensor mask, float value)
    {
        RequireDType(DType.Float32, "masked_fill");
        mask.RequireDType(DType.Float32, "masked_fill");
        var shape = Broadcast.ResultShape("masked_fill", Shape, mask.Shape);
        if (shape != Shape) throw new TensorShapeException("masked_fill", $"mask {mask.Shape} does not broadcast to {Shape}");
        using var v = Scalar(value, Device);
        return Where(mask, v, this);
    }

    /// <summary>gelu(x + bias) with bias broadcast along the last axis, in one pass.</summary>
    public Tensor BiasGelu(Tensor bias)
    {
        RequireDType(DType.Float32, "bias_gelu");
        bias.RequireDType(DType.Float32, "bias_gelu");
        RequireSameDevice(bias, "bias_gelu");
        if (Rank == 0 || bias.Rank != 1 || bias.Shape[0] != Shape.Last)
            throw new TensorShapeException("bias_gelu", $"bias {bias.Shape} must be 1-D and match the last axis of {Shape}");
        var y = UninitializedLike();
        if (Numel > 0) Backend.BiasGelu(this, bias, y, Numel / Shape.Last, Shape.Last);
        return y;
    }
}
