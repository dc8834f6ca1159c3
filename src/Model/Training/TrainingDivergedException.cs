namespace Engine.Model.Training;

/// <summary>
/// Training met a loss or gradient norm that is not finite. It stops before that step updates the weights, so
/// the model in memory and every checkpoint already written stay finite.
/// </summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Step <paramref name="step"/> (1-based) gave <paramref name="loss"/> and <paramref name="gradNorm"/>.</summary>
    public TrainingDivergedException(int step, float loss, float gradNorm)
        : this(step, FormattableString.Invariant($"the loss is {loss} and the gradient norm {gradNorm}"))
    {
    }

    /// <summary>Step <paramref name="step"/> (1-based) went wrong as <paramref name="what"/> says.</summary>
    public TrainingDivergedException(int step, string what)
        : base(FormattableString.Invariant($"training diverged at step {step}: {what}; ") +
            "stopped before updating the weights, and no checkpoint of this step was written (lower the learning rate or check the data)")
    {
        Step = step;
    }

    /// <summary>The step that diverged (1-based).</summary>
    public int Step { get; }
}
