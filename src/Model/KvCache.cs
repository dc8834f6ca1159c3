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
        if (_prefix is not null) throw new InvalidOperationException("kv_cache: a branched cache attends through AppendBranched");
        _keys[layer].WriteSlice(k, 2, Length);
        _values[layer].WriteSlice(v, 2, Length);
        return (_keys[layer].Slice(2, 0, Length + t), _values[layer].Slice(2, 0, Length + t));
    }

    /// <summary>
    /// For a branched cache: stores layer <paramref name="layer"/>'s new keys and values ([B, H, T, D]) and returns the
    /// attention mask over the shared prefix (<see cref="AttentionMask.SharedPrefix"/>) with this cache's own keys and
    /// values so far ([B, H, own, D]).
    /// </summary>
    internal (Tensor Keys, Tensor Values, AttentionMask Prefix) AppendBranched(int layer, Tensor k, Tensor v)
    {
        var prefix = _prefix ?? throw new InvalidOperationException("kv_cache: only a branched cache has a shared prefix");
        int t = k.Shape[2], own = Own + t;
        if (Length + t > Config.ContextLength)
            throw new TensorShapeException("kv_cache", $"{Length} cached + {t} new positions exceed the context length {Config.ContextLength}");
        _keys[layer].WriteSlice(k, 2, Own);
        _values[layer].WriteSlice(v, 2, Own);
        var mask = AttentionMask.SharedPrefix(prefix._keys[layer].Slice(2, 0, PrefixLength), prefix._values[layer].Slice(2, 0, PrefixLength));
        return (_keys[layer].Slice(2, 0, own), _values[layer].Slice(2, 0, own), mask);
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

    /// <summary>Frees the cache.</summary>
    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
