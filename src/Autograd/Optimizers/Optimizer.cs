namespace Engine.Autograd.Optimizers;

/// <summary>
/// Updates a fixed list of parameters from their gradients. The state (step count and per-parameter
/// buffers) can be exported and restored exactly, so a resumed run continues bit for bit.
/// </summary>
public abstract class Optimizer : IDisposable
{
    /// <summary>Creates an optimizer over <paramref name="parameters"/>.</summary>
    protected Optimizer(IEnumerable<Variable> parameters)
    {
        Parameters = parameters.ToArray();
        foreach (var p in Parameters)
            if (!p.RequiresGrad || !p.IsLeaf) throw new ArgumentException($"optimizer: {p} is not a trainable leaf parameter", nameof(parameters));
    }

    /// <summary>The parameters, in a fixed order.</summary>
    public IReadOnlyList<Variable> Parameters { get; }

    /// <summary>Number of steps taken.</summary>
    public int StepCount { get; protected set; }

    /// <summary>The learning rate used by the next <see cref="Step"/>.</summary>
    public float LearningRate { get; set; }

    /// <summary>Applies one update from the current gradients (parameters without a gradient are skipped).</summary>
    public abstract void Step();

    /// <summary>Drops every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>
    /// Scales all gradients so that their global L2 norm is at most <paramref name="maxNorm"/> (PyTorch's
    /// <c>clip_grad_norm_</c>, factor maxNorm/(norm + 1e-6)). Returns the norm before clipping.
    /// </summary>
    public float ClipGradNorm(float maxNorm)
    {
        float norm = GradNorm();
        float factor = maxNorm / (norm + 1e-6f);
        if (factor < 1f)
            foreach (var p in Parameters) p.Grad?.MulInPlace(factor);
        return norm;
    }

    /// <summary>The global L2 norm of the gradients (NaN or +∞ when any gradient is not finite).</summary>
    public float GradNorm()
    {
        // The squares are summed on the parameters' device and read back once: one host round trip, not one per parameter.
        Tensor? total = null;
        foreach (var p in Parameters)
        {
            if (p.Grad is null) continue;
            using var sq = p.Grad * p.Grad;
            var s = sq.Sum();
            if (total is null) total = s;
            else
            {
                total.AddInPlace(s);
                s.Dispose();
            }
        }
        float norm = total is null ? 0f : MathF.Sqrt(total.ToScalar());
        total?.Dispose();
        return norm;
    }

    /// <summary>The state as named host arrays: "step" and each buffer, e.g. "m.3".</summary>
    public Dictionary<string, float[]> ExportState()
    {
        var state = new Dictionary<string, float[]>(StringComparer.Ordinal) { ["step"] = [StepCount], ["lr"] = [LearningRate] };
        foreach (var (name, t) in Buffers()) state[name] = t.ToArray();
        return state;
    }

    /// <summary>Restores a state written by <see cref="ExportState"/>; shapes and names must match exactly.</summary>
    public void ImportState(IReadOnlyDictionary<string, float[]> state)
    {
        if (!state.TryGetValue("step", out var step) || step.Length != 1)
            throw new ArgumentException("optimizer state: missing 'step'", nameof(state));
        var buffers = Buffers().ToList();
        foreach (var (name, t) in buffers)
        {
            if (!state.TryGetValue(name, out var data)) throw new ArgumentException($"optimizer state: missing buffer '{name}'", nameof(state));
            if (data.Length != t.Numel)
                throw new ArgumentException($"optimizer state: buffer '{name}' has {data.Length} values, expected {t.Numel} ({t.Shape})",
                    nameof(state));
        }
        foreach (var (name, t) in buffers) t.CopyFrom(state[name]);
        StepCount = (int)step[0];
        if (state.TryGetValue("lr", out var lr) && lr.Length == 1) LearningRate = lr[0];
    }

    /// <summary>The named state buffers, in a fixed order.</summary>
    protected abstract IEnumerable<(string Name, Tensor Buffer)> Buffers();

    /// <summary>Frees the state buffers.</summary>
    public void Dispose()
    {
        foreach (var (_, t) in Buffers()) t.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>A zero buffer shaped like parameter <paramref name="p"/>, owned by the optimizer.</summary>
    protected static Tensor StateLike(Variable p) => TensorScope.Untrack(Tensor.Zeros(p.Shape, p.Value.Device));
}
