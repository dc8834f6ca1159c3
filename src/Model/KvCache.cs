using Engine.Autograd;

namespace Engine.Model;

/// <summary>
/// The keys and values of every layer for the positions a model has already seen, so generation feeds
/// only the new tokens. Each layer holds [batch, heads, capacity, headDim] tensors. A cache made by
/// <see cref="Branch"/> starts after a prefix per group of sequences that is stored once for the group.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] _keys, _values;
    readonly KvCache? _prefix;

    /// <summary>An empty cache for <paramref name="batch"/> sequences of up to the model's context length.</summary>
    public KvCache(GptConfig config, int batch, Device? device = null) : this(config, batch, null, device)
    {
    }

    KvCache(GptConfig config, int batch, KvCache? prefix, Device? device)
    {
        Config = config;
        Batch = batch;
        _prefix = prefix;
        Length = prefix?.Length ?? 0;
        var shape = new Shape(batch, config.Heads, config.ContextLength - Length, config.HeadDim);
        _keys = new Tensor[config.Layers];
        _values = new Tensor[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            _keys[i] = TensorScope.Untrack(Tensor.Zeros(shape, device));
            _values[i] = TensorScope.Untrack(Tensor.Zeros(shape, device));
        }
    }

    /// <summary>The model configuration the cache was made for.</summary>
    public GptConfig Config { get; }

    /// <summary>Number of sequences.</summary>
    public int Batch { get; }

    /// <summary>Positions already stored (the shared prefix's included).</summary>
    public int Length { get; private set; }

    /// <summary>Positions in the shared prefix (0 without one).</summary>
    public int PrefixLength => _prefix?.Length ?? 0;

    int Own => Length - PrefixLength;

    /// <summary>
    /// Stores layer <paramref name="layer"/>'s keys and values for the next [Length, Length + T) positions
    /// ([B, H, T, D] each) and returns the keys and values of every position so far ([B, H, Length + T, D]).
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        int t = k.Shape[2];
        if (Length + t > Config.ContextLength)
            throw new TensorShapeException("kv_cache", $"{Length} cached + {t} new positions exceed the context length {Config.ContextLength}");
        if (_prefix is not null) throw new InvalidOperationException("kv_cache: a branched cache attends through AppendAndAttend");
        _keys[layer].WriteSlice(k, 2, Length);
        _values[layer].WriteSlice(v, 2, Length);
        return (_keys[layer].Slice(2, 0, Length + t), _values[layer].Slice(2, 0, Length + t));
    }

    /// <summary>
    /// For a branched cache: stores layer <paramref name="layer"/>'s new keys and values ([B, H, T, D]) and
    /// returns softmax(q·kᵀ/√D)·v for the new queries q over the shared prefix and every own position so far
    /// (causal among the new ones). The prefix's keys serve all B sequences through one product per head.
    /// </summary>
    internal Tensor AppendAndAttend(int layer, Tensor q, Tensor k, Tensor v)
    {
        var prefix = _prefix ?? throw new InvalidOperationException("kv_cache: only a branched cache has a shared prefix");
        int groups = prefix.Batch, samples = Batch / groups, heads = Config.Heads, d = Config.HeadDim, t = k.Shape[2], p = PrefixLength, own = Own + t;
        if (Length + t > Config.ContextLength)
            throw new TensorShapeException("kv_cache", $"{Length} cached + {t} new positions exceed the context length {Config.ContextLength}");
        _keys[layer].WriteSlice(k, 2, Own);
        _values[layer].WriteSlice(v, 2, Own);
        using var ownKeys = _keys[layer].Slice(2, 0, own);
        using var ownValues = _values[layer].Slice(2, 0, own);
        using var prefixKeys = prefix._keys[layer].Slice(2, 0, p);
        using var prefixValues = prefix._values[layer].Slice(2, 0, p);

        // The queries of a group's samples, per head: [G·H, S·T, D] against the group's prefix [G·H, P, D].
        using var q5 = q.Reshape(groups, samples, heads, t, d);
        using var qh = q5.Permute(0, 2, 1, 3, 4);
        using var byHead = qh.Reshape(groups * heads, samples * t, d);
        using var pk = prefixKeys.Reshape(groups * heads, p, d);
        using var sharedScores = Tensor.Matmul(byHead, pk, transB: true);
        using var sharedScores5 = sharedScores.Reshape(groups, heads, samples, t, p);
        using var sharedScores5b = sharedScores5.Permute(0, 2, 1, 3, 4);
        using var sharedPart = sharedScores5b.Reshape(Batch, heads, t, p);
        using var ownPart = Tensor.Matmul(q, ownKeys, transB: true);
        using var scores = Tensor.Concat(-1, sharedPart, ownPart);
        scores.MulInPlace(1f / MathF.Sqrt(d));
        if (t > 1)
        {
            using var causal = Variable.CausalMask(t, own, q.Device);
            using var open = Tensor.Zeros(new Shape(t, p), q.Device);
            using var blocked = Tensor.Concat(-1, open, causal);
            scores.AddInPlace(blocked);
        }
        using var probs = scores.Softmax();
        using var sharedProbs = probs.Slice(-1, 0, p);
        using var ownProbs = probs.Slice(-1, p, own);
        using var sp5 = sharedProbs.Reshape(groups, samples, heads, t, p);
        using var sp = sp5.Permute(0, 2, 1, 3, 4);
        using var spFlat = sp.Reshape(groups * heads, samples * t, p);
        using var pv = prefixValues.Reshape(groups * heads, p, d);
        using var sharedOut = Tensor.Matmul(spFlat, pv);
        using var sharedOut5 = sharedOut.Reshape(groups, heads, samples, t, d);
        using var sharedOut5b = sharedOut5.Permute(0, 2, 1, 3, 4);
        using var sharedOutB = sharedOut5b.Reshape(Batch, heads, t, d);
        var o = Tensor.Matmul(ownProbs, ownValues);
        o.AddInPlace(sharedOutB);
        return o;
    }

    /// <summary>Marks <paramref name="t"/> more positions as stored (after every layer has appended them).</summary>
    internal void Advance(int t) => Length += t;

    /// <summary>
    /// A cache of Batch × <paramref name="samples"/> sequences, <paramref name="samples"/> continuing each of this
    /// cache's sequences (a group sharing one prefilled prompt; sequence r of the branch continues sequence
    /// r / samples here) without copying it: they read its keys and values, which must outlive the branch
    /// and stay unchanged.
    /// </summary>
    public KvCache Branch(int samples)
    {
        if (_prefix is not null) throw new InvalidOperationException("kv_cache: a branched cache cannot be branched again");
        if (samples <= 0) throw new ArgumentException($"kv_cache: need at least one sample, got {samples}");
        return new KvCache(Config, Batch * samples, this, _keys[0].Device);
    }

    /// <summary>A new cache of <paramref name="copies"/> sequences, each a copy of this single-sequence cache (a group sharing one prefilled prompt).</summary>
    public KvCache Repeat(int copies)
    {
        if (Batch != 1 || _prefix is not null) throw new InvalidOperationException($"kv_cache: only a single-sequence cache without a prefix can be repeated (batch {Batch})");
        var r = new KvCache(Config, copies, _keys[0].Device) { Length = Length };
        for (int i = 0; i < Config.Layers; i++)
        {
            Copy(_keys[i], r._keys[i]);
            Copy(_values[i], r._values[i]);
        }
        return r;
    }

    static void Copy(Tensor one, Tensor many)
    {
        using var b = one.BroadcastTo(many.Shape);
        using var flat = many.Reshape(-1);
        using var src = b.Reshape(-1);
        flat.WriteSlice(src, 0, 0);
    }

    /// <summary>Frees the cache.</summary>
    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
