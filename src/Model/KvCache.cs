namespace Engine.Model;

/// <summary>
/// The keys and values of every layer for the positions a model has already seen, so generation feeds
/// only the new tokens. Each layer holds [batch, heads, capacity, headDim] tensors.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] _keys, _values;

    /// <summary>An empty cache for <paramref name="batch"/> sequences of up to the model's context length.</summary>
    public KvCache(GptConfig config, int batch, Device? device = null)
    {
        Config = config;
        Batch = batch;
        var shape = new Shape(batch, config.Heads, config.ContextLength, config.HeadDim);
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

    /// <summary>Positions already stored.</summary>
    public int Length { get; private set; }

    /// <summary>
    /// Stores layer <paramref name="layer"/>'s keys and values for the next [Length, Length + T) positions
    /// ([B, H, T, D] each) and returns the keys and values of every position so far ([B, H, Length + T, D]).
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        int t = k.Shape[2];
        if (Length + t > Config.ContextLength)
            throw new TensorShapeException("kv_cache", $"{Length} cached + {t} new positions exceed the context length {Config.ContextLength}");
        _keys[layer].WriteSlice(k, 2, Length);
        _values[layer].WriteSlice(v, 2, Length);
        return (_keys[layer].Slice(2, 0, Length + t), _values[layer].Slice(2, 0, Length + t));
    }

    /// <summary>Marks <paramref name="t"/> more positions as stored (after every layer has appended them).</summary>
    internal void Advance(int t) => Length += t;

    /// <summary>A new cache of <paramref name="copies"/> sequences, each a copy of this single-sequence cache (a group sharing one prefilled prompt).</summary>
    public KvCache Repeat(int copies)
    {
        if (Batch != 1) throw new InvalidOperationException($"kv_cache: only a single-sequence cache can be repeated (batch {Batch})");
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
