using Engine.Simd;

namespace Engine.Ops;

/// <summary>
/// An element-wise function f(a, b). <see cref="Apply(float, float)"/> is the scalar reference and the
/// body of GPU kernels; the vector form drives the CPU backend's SIMD loop, whatever the broadcast.
/// </summary>
public interface IBinaryOp
{
    /// <summary>The op's name, as used in error messages.</summary>
    static abstract string Name { get; }

    /// <summary>f(a, b) for one pair.</summary>
    static abstract float Apply(float a, float b);

    /// <summary>f(a, b) lane by lane, at any SIMD width (<see cref="ISimd{TVector}"/>).</summary>
    static abstract TVector Apply<TSimd, TVector>(TVector a, TVector b) where TSimd : struct, ISimd<TVector> where TVector : struct;
}
