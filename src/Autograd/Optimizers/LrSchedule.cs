namespace Engine.Autograd.Optimizers;

/// <summary>The shapes a learning-rate schedule can take.</summary>
public enum LrScheduleKind
{
    /// <summary>The peak rate at every step.</summary>
    Constant,

    /// <summary>Linear ramp from 0 to the peak over the warm-up steps, then constant.</summary>
    LinearWarmup,

    /// <summary>Linear warm-up, then a half-cosine from the peak down to the minimum at the last step.</summary>
    Cosine,
}

/// <summary>A learning rate as a function of the (0-based) step.</summary>
public sealed record LrSchedule(LrScheduleKind Kind, float Peak, int WarmupSteps = 0, int TotalSteps = 0, float Min = 0f)
{
    /// <summary>A constant rate.</summary>
    public static LrSchedule Constant(float lr) => new(LrScheduleKind.Constant, lr);

    /// <summary>Linear warm-up to <paramref name="lr"/>, then constant.</summary>
    public static LrSchedule LinearWarmup(float lr, int warmupSteps) => new(LrScheduleKind.LinearWarmup, lr, warmupSteps);

    /// <summary>Linear warm-up, then cosine decay to <paramref name="min"/> at <paramref name="totalSteps"/>.</summary>
    public static LrSchedule Cosine(float lr, int warmupSteps, int totalSteps, float min = 0f) => new(LrScheduleKind.Cosine, lr, warmupSteps,
        totalSteps, min);

    /// <summary>The rate for step <paramref name="step"/> (0-based).</summary>
    public float At(int step)
    {
        if (Kind == LrScheduleKind.Constant) return Peak;
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (Kind == LrScheduleKind.LinearWarmup) return Peak;
        int decay = Math.Max(1, TotalSteps - WarmupSteps);
        float progress = Math.Clamp((float)(step - WarmupSteps) / decay, 0f, 1f);
        return Min + 0.5f * (Peak - Min) * (1f + MathF.Cos(MathF.PI * progress));
    }
}
