namespace Engine;

/// <summary>One parameter's tensors for <see cref="Tensor.AdamW"/>: all float32, of one shape, on one device.</summary>
public readonly record struct AdamWSlot(Tensor Param, Tensor Grad, Tensor M, Tensor V);

/// <summary>
/// The scalars of one AdamW step (PyTorch's formulation): p ← p − lr·wd·p; m ← β₁m + (1−β₁)g;
/// v ← β₂v + (1−β₂)g²; p ← p − (lr/bc₁) · m / (√v/√bc₂ + eps), with bcᵢ = 1 − βᵢᵗ.
/// </summary>
public readonly record struct AdamWStep(
    float Lr, float Beta1, float Beta2, float Eps, float WeightDecay, float BiasCorrection1, float BiasCorrection2);
