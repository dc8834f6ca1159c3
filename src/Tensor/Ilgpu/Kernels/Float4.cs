using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Four floats in one 16-byte struct: reading one through <c>ArrayView.Cast&lt;Float4&gt;()</c> compiles to a
/// single 128-bit load (<c>ld.global.v4.f32</c>). The element index must be a multiple of four.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct Float4(float x, float y, float z, float w)
{
    /// <summary>Lane 0.</summary>
    public float X = x;

    /// <summary>Lane 1.</summary>
    public float Y = y;

    /// <summary>Lane 2.</summary>
    public float Z = z;

    /// <summary>Lane 3.</summary>
    public float W = w;

    /// <summary>
    /// acc + s · v, lane-wise. Written as a multiply and an add: ILGPU 1.5.3 turns
    /// <see cref="MathF.FusedMultiplyAdd"/> into a call to an undefined external function, whereas ptxas
    /// contracts <c>mul.f32</c> + <c>add.f32</c> into one <c>fma</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Fma(float s, Float4 v, Float4 acc) => new(
        acc.X + s * v.X, acc.Y + s * v.Y, acc.Z + s * v.Z, acc.W + s * v.W);
}
