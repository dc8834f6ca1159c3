namespace Engine;

/// <summary>
/// The input precision of a matrix product on the GPU (<see cref="Device.MatmulPrecision"/>). Every variant
/// accumulates in float32; they differ in how the inputs are rounded before they are multiplied.
/// </summary>
public enum GemmPrecision
{
    /// <summary>Exact float32 products on CUDA cores (<c>GemmSimt</c>): deterministic, the reference.</summary>
    Float32,

    /// <summary>
    /// Tensor cores, <c>mma.m16n8k8 .tf32</c>: each input is rounded to nearest (ties away) to 10 mantissa
    /// bits (relative error ≤ 2⁻¹¹), products are summed in float32. Typical relative error of a dot product
    /// of length K is about 2⁻¹¹·√K.
    /// </summary>
    Tf32,

    /// <summary>
    /// Tensor cores, <c>mma.m16n8k16 .bf16</c>: each input is rounded to nearest even to 7 mantissa bits
    /// (relative error ≤ 2⁻⁸), products are summed in float32.
    /// </summary>
    Bf16,
}
