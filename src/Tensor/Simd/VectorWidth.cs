using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Engine.Simd;

/// <summary>
/// The SIMD width the CPU backend runs at, chosen once at start-up: the widest that the processor (and the
/// runtime's settings, such as DOTNET_EnableAVX512F=0) accelerates natively. A narrower width is never emulated.
/// </summary>
public static class VectorWidth
{
    /// <summary>512, 256 or 128.</summary>
    public static readonly int Bits =
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>Whether multiply-adds are fused (one rounding): true on every AVX2, AVX-512 and Arm64 processor.</summary>
    public static readonly bool HasFma = Fma.IsSupported || AdvSimd.IsSupported;

    /// <summary>The instruction set behind <see cref="Bits"/>, for logs and benchmark tables.</summary>
    public static string Name => Bits switch
    {
        512 => "AVX-512",
        256 => "AVX2+FMA",
        _ when AdvSimd.IsSupported => "NEON (128-bit)",
        _ when Sse2.IsSupported => HasFma ? "SSE (128-bit, FMA)" : "SSE (128-bit, no FMA)",
        _ => "128-bit (not hardware-accelerated)",
    };
}
