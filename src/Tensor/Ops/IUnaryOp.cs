namespace Engine.Ops;

/// <summary>
/// An element-wise function f(x). One definition drives every backend: <see cref="Apply(float)"/> is the
/// scalar reference (and the body of GPU kernels), <see cref="Apply(ReadOnlySpan{float}, Span{float})"/>
/// is the SIMD path of the CPU backend.
/// </summary>
public interface IUnaryOp
{
    /// <summary>The op's name, as used in error messages.</summary>
    static abstract string Name { get; }

    /// <summary>f(x) for one element.</summary>
    static abstract float Apply(float x);

    /// <summary>y[i] = f(x[i]) for a contiguous run; <paramref name="x"/> and <paramref name="y"/> may alias.</summary>
    static abstract void Apply(ReadOnlySpan<float> x, Span<float> y);
}
