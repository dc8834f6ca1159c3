using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, AdamWArgs> _adamW;

    /// <inheritdoc/>
    public void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep h)
    {
        const string op = "adamw";
        var args = new AdamWArgs
        {
            Beta1 = h.Beta1, Beta2 = h.Beta2, Eps = h.Eps, Decay = 1f - h.Lr * h.WeightDecay,
            Step = h.Lr / h.BiasCorrection1, InvSqrtBc2 = 1f / MathF.Sqrt(h.BiasCorrection2),
        };
        Bind();
        // One fused launch per parameter: the four tensors of a slot are separate buffers, and a kernel
        // cannot take a list of views.
        foreach (var s in slots)
        {
            int n = s.Param.Numel;
            if (n == 0) continue;
            _adamW(Elements(n), View(s.Param, n, op), View(s.Grad, n, op), View(s.M, n, op), View(s.V, n, op), n, args);
        }
    }
}
