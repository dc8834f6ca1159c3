using Engine.Autograd;
using Engine.Random;

namespace Engine.Model;

/// <summary>
/// A GPT-2 decoder: learned token and position embeddings, pre-LayerNorm blocks of causal multi-head
/// attention and a tanh-GELU MLP, a final LayerNorm, and a head tied to the token embeddings. Parameters
/// carry GPT-2's names (<c>wte.weight</c>, <c>h.0.attn.c_attn.weight</c>, …) and its Conv1D layout
/// ([in, out]), so Hugging Face checkpoints map onto them one to one.
/// </summary>
public sealed class Gpt : ILanguageModel
{
    readonly Dictionary<string, Variable> _parameters = new(StringComparer.Ordinal);

    /// <summary>
    /// Creates a model initialised as GPT-2 is: N(0, 0.02), residual projections N(0, 0.02/√(2·layers)), zero biases, unit LayerNorm gains.
    /// </summary>
    public Gpt(GptConfig config, ulong seed = 0, Device? device = null)
    {
        config.Validate();
        Config = config;
        Device = device ?? Device.Cpu;
        var rng = new Generator(seed);
        float std = 0.02f, residualStd = 0.02f / MathF.Sqrt(2f * config.Layers);
        try
        {
            foreach (var (name, dims) in ParameterShapes(config))
            {
                var shape = new Shape(dims);
                Add(name, name.EndsWith(".bias", StringComparison.Ordinal) ? Tensor.Zeros(shape, Device)
                    : name.Contains("ln_", StringComparison.Ordinal) ? Tensor.Ones(shape, Device)
                    : rng.Normal(shape, 0, name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? residualStd : std, Device));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Every parameter's GPT-2 name and shape for <paramref name="config"/>, in the model's fixed order.</summary>
    public static IEnumerable<(string Name, int[] Shape)> ParameterShapes(GptConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int c = config.Width;
        yield return ("wte.weight", [config.VocabSize, c]);
        yield return ("wpe.weight", [config.ContextLength, c]);
        for (int i = 0; i < config.Layers; i++)
        {
            string h = $"h.{i}.";
            yield return (h + "ln_1.weight", [c]);
            yield return (h + "ln_1.bias", [c]);
            yield return (h + "attn.c_attn.weight", [c, 3 * c]);
            yield return (h + "attn.c_attn.bias", [3 * c]);
            yield return (h + "attn.c_proj.weight", [c, c]);
            yield return (h + "attn.c_proj.bias", [c]);
            yield return (h + "ln_2.weight", [c]);
            yield return (h + "ln_2.bias", [c]);
            yield return (h + "mlp.c_fc.weight", [c, 4 * c]);
            yield return (h + "mlp.c_fc.bias", [4 * c]);
            yield return (h + "mlp.c_proj.weight", [4 * c, c]);
            yield return (h + "mlp.c_proj.bias", [c]);
        }
        yield return ("ln_f.weight", [c]);
        yield return ("ln_f.bias", [c]);
    }

    /// <summary>Scalars in the parameters of <paramref name="config"/>, computed without allocating them (and without overflow).</summary>
    public static long CountParameters(GptConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long c = config.Width;
        return checked((config.VocabSize + (long)config.ContextLength) * c + config.Layers * (12 * c * c + 13 * c) + 2 * c);
    }

    /// <summary>
    /// The bytes generation for <paramref name="rows"/> sequences keeps: the KV cache, which spans the whole context per
    /// layer, and a step's logits and activations.
    /// </summary>
    public static double GenerationBytes(GptConfig config, long rows)
    {
        ArgumentNullException.ThrowIfNull(config);
        double cache = 2.0 * config.Layers * rows * config.ContextLength * config.Width;
        return (cache + rows * ((double)config.VocabSize + 16.0 * config.Width)) * sizeof(float);
    }

    /// <summary>
    /// A lower bound on the host or device bytes a forward pass over [<paramref name="batch"/>, <paramref name="time"/>]
    /// tokens keeps alive: the logits and, per layer, the activations the backward pass saves (about 16 widths per
    /// token). <paramref name="training"/> adds the gradients, which are as large again.
    /// </summary>
    public static double ActivationBytes(GptConfig config, long batch, long time, bool training)
    {
        ArgumentNullException.ThrowIfNull(config);
        double tokens = (double)batch * time;
        double perLayer = tokens * 16.0 * config.Width;
        double floats = tokens * config.VocabSize + (training ? config.Layers * perLayer : 2 * perLayer);
        return floats * sizeof(float) * (training ? 2 : 1);
    }

    /// <summary>
    /// A lower bound on the bytes one training step over [<paramref name="batch"/>, <paramref name="time"/>] tokens needs: the
    /// weights, their gradients and AdamW's two moments, and the activations with their gradients.
    /// </summary>
    public static double TrainingStepBytes(GptConfig config, long batch, long time) =>
        CountParameters(config) * 4.0 * sizeof(float) + ActivationBytes(config, batch, time, training: true);

    void Add(string name, Tensor value) => _parameters.Add(name, Variable.Parameter(value, name));

    /// <summary>The configuration.</summary>
    public GptConfig Config { get; }

    /// <inheritdoc/>
    public int VocabSize => Config.VocabSize;

    /// <inheritdoc/>
    public int ContextLength => Config.ContextLength;

    /// <inheritdoc/>
    IReadOnlyList<Variable> ILanguageModel.TrainableParameters => [.. _parameters.Values];

    /// <inheritdoc/>
    Variable ILanguageModel.Forward(Tensor ids) => Forward(ids);

    /// <inheritdoc/>
    ILanguageModel ILanguageModel.Clone() => Clone();

    /// <summary>Where the parameters live.</summary>
    public Device Device { get; }

    /// <summary>Every parameter by its GPT-2 name, in a fixed order.</summary>
    public IReadOnlyDictionary<string, Variable> Parameters => _parameters;

    /// <summary>The parameter called <paramref name="name"/>.</summary>
    public Variable this[string name] =>
        _parameters.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"gpt: no parameter named '{name}'");

    /// <summary>Total number of scalars in the parameters (the tied head counted once).</summary>
    public long ParameterCount => _parameters.Values.Sum(p => (long)p.Value.Numel);

    /// <summary>
    /// Logits [B, T, V] for Int32 token ids [B, T]. By default position t has id t and attention is causal.
    /// <paramref name="positions"/> (Int32 [B, T] or [T], each below the context length) overrides the position ids, and
    /// <paramref name="mask"/> (additive, broadcast to [B, heads, T, T]) replaces the causal mask, as the
    /// tree-packed training of a group needs. With a <paramref name="cache"/>, the ids are the next
    /// positions after those cached (generation), and their keys and values are appended to it.
    /// </summary>
    public Variable Forward(Tensor ids, Tensor? positions = null, Tensor? mask = null, KvCache? cache = null) =>
        Forward(ids, positions, mask, null, cache);

    /// <summary>
    /// Logits [1, N, V] for a packed tree of sequences: ids [1, N], each position's id its depth
    /// (<paramref name="positions"/>, [N]), and every position attending to itself and its ancestors in
    /// <paramref name="tree"/> (<see cref="AttentionMask.Tree"/>), so each token's logits are those it has in
    /// its own sequence.
    /// </summary>
    public Variable Forward(Tensor ids, Tensor positions, TreeMask tree) => Forward(ids, positions, null, tree, null);

    Variable Forward(Tensor ids, Tensor? positions, Tensor? mask, TreeMask? tree, KvCache? cache)
    {
        const string op = "gpt";
        if (ids.DType != DType.Int32 || ids.Rank != 2)
            throw new TensorShapeException(op, $"ids must be Int32 [batch, time], got {ids.DType} {ids.Shape}");
        int b = ids.Shape[0], t = ids.Shape[1];
        int start = cache?.Length ?? 0;
        // With explicit position ids (a packed tree) the sequence may be longer than the context; each id must be inside it.
        if ((positions is null || cache is not null) && start + t > Config.ContextLength)
            throw new TensorShapeException(op, $"sequence length {start + t} exceeds the context length {Config.ContextLength}");
        if (cache is not null && cache.Batch != b)
            throw new TensorShapeException(op, $"ids {ids.Shape} do not match a cache of {cache.Batch} sequences");
        if (tree is not null && (b != 1 || tree.Length != t))
            throw new TensorShapeException(op, $"a tree of {tree.Length} positions needs ids [1, {tree.Length}], got {ids.Shape}");
        var defaultPositions = positions is null ? Tensor.FromInts(Enumerable.Range(start, t).ToArray(), new Shape(t), ids.Device) : null;
        var x = Variable.Embedding(this["wte.weight"], ids) + Variable.Embedding(this["wpe.weight"], positions ?? defaultPositions!);
        if (cache is { PrefixLength: > 0 } && mask is not null)
            throw new ArgumentException("gpt: a cache with a shared prefix attends causally; it takes no mask");
        // One mask serves every layer (a tree's dense form, where the device needs it, is built once).
        var attention = tree is not null ? AttentionMask.Tree(tree) : mask is not null ? AttentionMask.Additive(mask) : AttentionMask.Causal;
        for (int i = 0; i < Config.Layers; i++) x = Block(i, x, b, t, attention, cache);
        cache?.Advance(t);
        var final = Variable.LayerNorm(x, this["ln_f.weight"], this["ln_f.bias"], Config.LayerNormEpsilon);
        return Variable.Matmul(final, this["wte.weight"], transB: true);
    }

    Variable Block(int i, Variable x, int b, int t, AttentionMask attention, KvCache? cache)
    {
        string h = $"h.{i}.";
        int c = Config.Width, heads = Config.Heads, d = Config.HeadDim;
        var a = Variable.LayerNorm(x, this[h + "ln_1.weight"], this[h + "ln_1.bias"], Config.LayerNormEpsilon);
        var qkv = Variable.Linear(a, this[h + "attn.c_attn.weight"], this[h + "attn.c_attn.bias"]).Split(-1, c, c, c);
        Variable Heads(Variable v) => v.Reshape(b, t, heads, d).Permute(0, 2, 1, 3);
        Variable q = Heads(qkv[0]), k = Heads(qkv[1]), v = Heads(qkv[2]);
        // Earlier positions come from the cache as constants: generation runs without gradients.
        if (cache is { PrefixLength: > 0 })
        {
            var (keys, values, prefix) = cache.AppendBranched(i, k.Value, v.Value);
            (k, v, attention) = (new Variable(keys), new Variable(values), prefix);
        }
        else if (cache is not null)
        {
            var (keys, values) = cache.Append(i, k.Value, v.Value);
            (k, v) = (new Variable(keys), new Variable(values));
        }
        var o = Variable.Attention(q, k, v, attention);
        var merged = o.Permute(0, 2, 1, 3).Reshape(b, t, c);
        x += Variable.Linear(merged, this[h + "attn.c_proj.weight"], this[h + "attn.c_proj.bias"]);
        var m = Variable.LayerNorm(x, this[h + "ln_2.weight"], this[h + "ln_2.bias"], Config.LayerNormEpsilon);
        var hidden = Variable.BiasGelu(Variable.Linear(m, this[h + "mlp.c_fc.weight"]), this[h + "mlp.c_fc.bias"]);
        return x + Variable.Linear(hidden, this[h + "mlp.c_proj.weight"], this[h + "mlp.c_proj.bias"]);
    }

    /// <summary>Mean next-token cross-entropy of logits [B, T, V] against Int32 targets [B, T] (ignoring <paramref name="ignoreIndex"/>).</summary>
    public static Variable Loss(Variable logits, Tensor targets, int ignoreIndex = -100)
    {
        int v = logits.Shape[-1];
        // The flattened view is saved by the loss for its backward pass; the step's TensorScope frees it.
        return Variable.CrossEntropy(logits.Reshape(-1, v), targets.Reshape(-1), ignoreIndex);
    }

    /// <summary>An independent copy with the same configuration, device and parameter values.</summary>
    public Gpt Clone()
    {
        var copy = new Gpt(Config, 0, Device);
        foreach (var (name, p) in _parameters) copy[name].Value.CopyFrom(p.Value.ToArray());
        return copy;
    }

    /// <summary>Frees every parameter.</summary>
    public void Dispose()
    {
        foreach (var p in _parameters.Values) p.Dispose();
    }
}
