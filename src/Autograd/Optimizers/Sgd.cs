namespace Engine.Autograd.Optimizers;

/// <summary>
/// Stochastic gradient descent with momentum, as PyTorch defines it: g ← g + wd·p; b ← μ·b + g (b = g on the
/// first step); p ← p − lr·b.
/// </summary>
public sealed class Sgd : Optimizer
{
    readonly Tensor[] _momentum;

    /// <summary>Creates the optimizer.</summary>
    public Sgd(IEnumerable<Variable> parameters, float lr, float momentum = 0f, float weightDecay = 0f) : base(parameters)
    {
        if (!(lr >= 0) || !(momentum >= 0)
            || !(weightDecay >= 0)) throw new ArgumentException($"sgd: invalid hyper-parameters lr={lr}, momentum={momentum}, " +
            $"weight_decay={weightDecay}");
        LearningRate = lr;
        Momentum = momentum;
        WeightDecay = weightDecay;
        _momentum = Parameters.Select(StateLike).ToArray();
    }

    /// <summary>The momentum factor μ.</summary>
    public float Momentum { get; }

    /// <summary>L2 weight decay added to the gradient.</summary>
    public float WeightDecay { get; }

    /// <inheritdoc/>
    public override void Step()
    {
        using var scope = TensorScope.Open();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
            var d = p.Grad;
            if (WeightDecay != 0f) d = d + p.Value * WeightDecay;
            if (Momentum != 0f)
            {
                var b = _momentum[i];
                if (StepCount > 0) b.MulInPlace(Momentum);
                b.AddInPlace(d);
                d = b;
            }
            p.Value.AddInPlace(d * -LearningRate);
        }
        StepCount++;
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, Tensor Buffer)> Buffers()
    {
        for (int i = 0; i < _momentum.Length; i++) yield return ($"momentum.{i}", _momentum[i]);
    }
}
