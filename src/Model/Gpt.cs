using Engine.Autograd;
using Engine.Random;

namespace Engine.Model;

/// <summary>
/// A GPT-2 decoder: learned token and position embeddings, pre-LayerNorm blocks of causal multi-head
/// attention and a tanh-GELU MLP, a final LayerNorm, and a head tied to the token embeddings. Parameters
/// carry GPT-2's names (<c>wte.weight</c>, <c>h.0.attn.c_attn.weight</c>, …) and its Conv1D layout
/// ([in, out]), so Hugging Face checkpoints map onto them one to one.
/// </summary>
public sealed class Gpt : IDisposable
{
    readonly Dictionary<string, Variable> _parameters = new(StringComparer.Ordinal);

    /// <summary>Creates a model initialised as GPT-2 is: N(0, 0.02), residual projections N(0, 0.02/√(2·layers)), zero biases, unit LayerNorm gains.</summary>
    public Gpt(GptConfig config, ulong seed = 0, Device? device = null)
    {
        config.Validate();
        Config = config;
        Device = device ?? Device.Cpu;
        var rng = new Generator(seed);
        int c = config.Width;
        float std = 0.02f, residualStd = 0.02f / MathF.Sqrt(2f * config.Layers);
        Add("wte.weight", rng.Normal(new Shape(config.VocabSize, c), 0, std, Device));
        Add("wpe.weight", rng.Normal(new Shape(config.ContextLength, c), 0, std, Device));
        for (int i = 0; i < config.Layers; i++)
        {
            string h = $"h.{i}.";
            Add(h + "ln_1.weight", Tensor.Ones(new Shape(c), Device));
            Add(h + "ln_1.bias", Tensor.Zeros(new Shape(c), Device));
            Add(h + "attn.c_attn.weight", rng.Normal(new Shape(c, 3 * c), 0, std, Device));
            Add(h + "attn.c_attn.bias", Tensor.Zeros(new Shape(3 * c), Device));
            Add(h + "attn.c_proj.weight", rng.Normal(new Shape(c, c), 0, residualStd, Device));
            Add(h + "attn.c_proj.bias", Tensor.Zeros(new Shape(c), Device));
            Add(h + "ln_2.weight", Tensor.Ones(new Shape(c), Device));
            Add(h + "ln_2.bias", Tensor.Zeros(new Shape(c), Device));
            Add(h + "mlp.c_fc.weight", rng.Normal(new Shape(c, 4 * c), 0, std, Device));
            Add(h + "mlp.c_fc.bias", Tensor.Zeros(new Shape(4 * c), Device));
            Add(h + "mlp.c_proj.weight", rng.Normal(new Shape(4 * c, c), 0, residualStd, Device));
            Add(h + "mlp.c_proj.bias", Tensor.Zeros(new Shape(c), Device));
        }
        Add("ln_f.weight", Tensor.Ones(new Shape(c), Device));
        Add("ln_f.bias", Tensor.Zeros(new Shape(c), Device));
    }

    void Add(string name, Tensor value) => _parameters.Add(name, Variable.Parameter(value, name));

    /// <summary>The configuration.</summary>
    public GptConfig Config { get; }

    /// <summary>Where the parameters live.</summary>
    public Device Device { get; }

    /// <summary>Every parameter by its GPT-2 name, in a fixed order.</summary>
    public IReadOnlyDictionary<string, Variable> Parameters => _parameters;

    /// <summary>The parameter called <paramref name="name"/>.</summary>
    public Variable this[string name] => _parameters.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"gpt: no parameter named '{name}'");

    /// <summary>Total number of scalars in the parameters (the tied head counted once).</summary>
    public long ParameterCount => _parameters.Values.Sum(p => (long)p.Value.Numel);

    /// <summary>
    /// Logits [B, T, V] for Int32 token ids [B, T]. By default position t has id t and attention is causal.
    /// <paramref name="positions"/> (Int32 [B, T] or [T], each below the context length) overrides the position ids, and
    /// <paramref name="mask"/> (additive, broadcast to [B, heads, T, T]) replaces the causal mask, as the
    /// tree-packed training of a group needs. With a <paramref name="cache"/>, the ids are the next
    /// positions after those cached (generation), and their keys and values are appended to it.
    /// </summary>
    public Variable Forward(Tensor ids, Tensor? positions = null, Tensor? mask = null, KvCache? cache = null) => Forward(ids, positions, mask, null, cache);

    /// <summary>
    /// Logits [1, N, V] for a packed tree of sequences: ids [1, N], each position's id its depth
    /// (<paramref name="positions"/>, [N]), and every position attending to itself and its ancestors in
    /// <paramref name="tree"/> (<see cref="Variable.TreeAttention"/>), so each token's logits are those it has in
    /// its own sequence.
    /// </summary>
    public Variable Forward(Tensor ids, Tensor positions, TreeMask tree) => Forward(ids, positions, null, tree, null);

    Variable Forward(Tensor ids, Tensor? positions, Tensor? mask, TreeMask? tree, KvCache? cache)
    {
        const string op = "gpt";
        if (ids.DType != DType.Int32 || ids.Rank != 2) throw new TensorShapeException(op, $"ids must be Int32 [batch, time], got {ids.DType} {ids.Shape}");
        int b = ids.Shape[0], t = ids.Shape[1];
        int start = cache?.Length ?? 0;
        // With explicit position ids (a packed tree) the sequence may be longer than the context; each id must be inside it.
        if ((positions is null || cache is not null) && start + t > Config.ContextLength)
            throw new TensorShapeException(op, $"sequence length {start + t} exceeds the context length {Config.ContextLength}");
        if (cache is not null && cache.Batch != b) throw new TensorShapeException(op, $"ids {ids.Shape} do not match a cache of {cache.Batch} sequences");
        if (tree is not null && (b != 1 || tree.Length != t)) throw new TensorShapeException(op, $"a tree of {tree.Length} positions needs ids [1, {tree.Length}], got {ids.Shape}");
        var defaultPositions = positions is null ? Tensor.FromInts(Enumerable.Range(start, t).ToArray(), new Shape(t), ids.Device) : null;
        var x = Variable.Embedding(this["wte.weight"], ids) + Variable.Embedding(this["wpe.weight"], positions ?? defaultPositions!);
        if (tree is not null && !ids.Device.HasTreeAttention)
        {
            // A device that cannot walk trees attends under the dense mask: build it once for every layer.
            mask = Tensor.FromArray(tree.Dense(), new Shape(t, t), ids.Device);
            tree = null;
        }
        for (int i = 0; i < Config.Layers; i++) x = Block(i, x, b, t, mask, tree, cache);
        cache?.Advance(t);
        var final = Variable.LayerNorm(x, this["ln_f.weight"], this["ln_f.bias"], Config.LayerNormEpsilon);
        return Variable.Matmul(final, this["wte.weight"], transB: true);
    }

    Variable Block(int i, Variable x, int b, int t, Tensor? mask, TreeMask? tree, KvCache? cache)
    {
        string h = $"h.{i}.";
        int c = Config.Width, heads = Config.Heads, d = Config.HeadDim;
        var a = Variable.LayerNorm(x, this[h + "ln_1.weight"], this[h + "ln_1.bias"], Config.LayerNormEpsilon);
        var qkv = Variable.Linear(a, this[h + "attn.c_attn.weight"], this[h + "attn.c_attn.bias"]).Split(-1, c, c, c);
        Variable Heads(Variable v) => v.Reshape(b, t, heads, d).Permute(0, 2, 1, 3);
        Variable q = Heads(qkv[0]), k = Heads(qkv[1]), v = Heads(qkv[2]);
        Variable o;
        // Earlier positions come from the cache as constants: generation runs without gradients.
        if (cache is { PrefixLength: > 0 })
        {
            if (mask is not null) throw new ArgumentException("gpt: a cache with a shared prefix attends causally; it takes no mask");
            o = new Variable(cache.AppendAndAttend(i, q.Value, k.Value, v.Value));
        }
        else if (tree is not null) o = Variable.TreeAttention(q, k, v, tree);
        else
        {
            if (cache is not null)
            {
                var (keys, values) = cache.Append(i, k.Value, v.Value);
                (k, v) = (new Variable(keys), new Variable(values));
            }
            o = Variable.Attention(q, k, v, mask, causal: mask is null);
        }
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
