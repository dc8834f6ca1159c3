namespace Engine.Autograd.Optimizers;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter), in PyTorch's formulation, applied to all
/// parameters by one fused backend update per step.
/// </summary>
public sealed class AdamW : Optimizer
{
    readonly Tensor[] _m, _v;

    /// <summary>Creates the optimizer; the defaults are PyTorch's.</summary>
    public AdamW(IEnumerable<Variable> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f,
        float weightDecay = 0.01f)
        : base(parameters)
    {
        if (!(lr >= 0) || !float.IsFinite(lr) || !(beta1 is >= 0 and < 1) || !(beta2 is >= 0 and < 1) || !(eps > 0) || !(weightDecay >= 0))
            throw new ArgumentException($"adamw: invalid hyper-parameters lr={lr}, betas=({beta1}, {beta2}), eps={eps}, weight_decay={weightDecay}");
        LearningRate = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _m = Parameters.Select(StateLike).ToArray();
        _v = Parameters.Select(StateLike).ToArray();
    }

    /// <summary>Decay of the first moment.</summary>
    public float Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public float Beta2 { get; }

    /// <summary>Added to the denominator.</summary>
    public float Eps { get; }

    /// <summary>Decoupled weight decay.</summary>
    public float WeightDecay { get; }

    /// <inheritdoc/>
    public override void Step()
    {
        StepCount++;
        var slots = new List<AdamWSlot>(Parameters.Count);
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Grad is { } g) slots.Add(new AdamWSlot(Parameters[i].Value, g, _m[i], _v[i]));
        var step = new AdamWStep(LearningRate, Beta1, Beta2, Eps, WeightDecay,
            1f - MathF.Pow(Beta1, StepCount), 1f - MathF.Pow(Beta2, StepCount));
        Tensor.AdamW(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(slots), step);
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, Tensor Buffer)> Buffers()
    {
        for (int i = 0; i < _m.Length; i++) yield return ($"m.{i}", _m[i]);
        for (int i = 0; i < _v.Length; i++) yield return ($"v.{i}", _v[i]);
    }
}
