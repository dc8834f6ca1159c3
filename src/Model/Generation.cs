using Engine.Autograd;
using Engine.Random;

namespace Engine.Model;

/// <summary>What to generate.</summary>
/// <param name="MaxNewTokens">Upper bound on new tokens per sequence (generation also stops when the context is full).</param>
/// <param name="Sampling">How tokens are chosen (default: temperature 1, no truncation).</param>
/// <param name="Seed">Seed of the Philox stream the choices draw from.</param>
/// <param name="StopTokens">A sequence ends after emitting one of these (it is included in the output).</param>
/// <param name="AllowedTokens">If set, only these ids can be sampled (e.g. a task's alphabet).</param>
public sealed record GenerationOptions(int MaxNewTokens, SamplingOptions? Sampling = null, ulong Seed = 0,
    IReadOnlySet<int>? StopTokens = null, IReadOnlyList<int>? AllowedTokens = null)
{
    /// <summary>A sequence also ends once this says so of its new tokens so far (e.g. its text holds a stop string).</summary>
    public Func<IReadOnlyList<int>, bool>? StopWhen { get; init; }
}

/// <summary>
/// Autoregressive generation from any <see cref="ILanguageModel"/>. A <see cref="Gpt"/> decodes with a KV cache; any other
/// model recomputes its prefix at every step.
/// </summary>
public static class Generation
{
    /// <summary>
    /// Continues each prompt. Prompts of equal length run as one batch; otherwise each prompt runs on its
    /// own. Returns the new tokens of each prompt.
    /// </summary>
    public static int[][] Generate(ILanguageModel model, IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length != prompts[0].Length))
        {
            var rng = new Generator(options.Seed);
            return prompts.Select(p => Run(model, [p], options, rng)[0]).ToArray();
        }
        return Run(model, prompts, options, new Generator(options.Seed));
    }

    /// <summary>
    /// <paramref name="samples"/> continuations of one prompt: the prompt is prefilled once and every sample
    /// reads its keys and values from that one cache (<see cref="KvCache.Branch"/>, no copies) while they
    /// decode in one batch.
    /// </summary>
    public static int[][] GenerateGroup(ILanguageModel model, int[] prompt, int samples, GenerationOptions options) =>
        GenerateGroups(model, [prompt], samples, options, [options.Seed])[0];

    /// <summary>
    /// <paramref name="samples"/> continuations of each of several prompts of one length, all decoding in one
    /// batch: a <see cref="Gpt"/> prefills the prompts together, once each, and every sample reads its prompt's cache
    /// (no copies). Group g draws from its own Philox stream seeded with <paramref name="seeds"/>[g], so it
    /// gets the tokens <see cref="GenerateGroup"/> gives it with that seed.
    /// </summary>
    public static int[][][] GenerateGroups(ILanguageModel model, IReadOnlyList<int[]> prompts, int samples, GenerationOptions options,
        IReadOnlyList<ulong> seeds)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (samples <= 0) throw new ArgumentException($"generate: need at least one sample, got {samples}");
        if (prompts.Count == 0) return [];
        if (seeds.Count != prompts.Count) throw new ArgumentException($"generate: {prompts.Count} prompts but {seeds.Count} seeds");
        foreach (var p in prompts) CheckPrompt(model, p);
        if (prompts.Any(p => p.Length != prompts[0].Length))
            throw new ArgumentException(
                $"generate: grouped prompts must have one length, got {string.Join(", ", prompts.Select(p => p.Length).Distinct())}");
        var streams = seeds.Select(s => new Generator(s)).ToArray();
        int[][] rows = [.. Enumerable.Range(0, prompts.Count * samples).Select(r => prompts[r / samples])];
        using var decoder = model is Gpt gpt ? (IDecoder)new BranchedCacheDecoder(gpt, prompts, samples) : new RecomputingDecoder(model, rows);
        var outputs = Decode(model, decoder, options, r => streams[r / samples]);
        return Enumerable.Range(0, prompts.Count).Select(g => outputs[(g * samples)..((g + 1) * samples)]).ToArray();
    }

    static int[][] Run(ILanguageModel model, IReadOnlyList<int[]> prompts, GenerationOptions options, Generator rng)
    {
        foreach (var p in prompts) CheckPrompt(model, p);
        using var decoder = model is Gpt gpt ? (IDecoder)new CacheDecoder(gpt, prompts) : new RecomputingDecoder(model, prompts);
        return Decode(model, decoder, options, _ => rng);
    }

    static void CheckPrompt(ILanguageModel model, int[] prompt)
    {
        if (prompt.Length == 0) throw new ArgumentException("generate: the prompt is empty; start it with at least one token (e.g. BOS)");
        if (prompt.Length > model.ContextLength)
            throw new ArgumentException($"generate: the prompt has {prompt.Length} tokens, more than the context length {model.ContextLength}");
        foreach (int id in prompt)
            if ((uint)id >= (uint)model.VocabSize)
                throw new ArgumentException($"generate: prompt token {id} is outside the vocabulary [0, {model.VocabSize})");
    }

    /// <summary>Feeds [B, T] ids through <paramref name="forward"/>; returns each row's logits at its last position.</summary>
    static float[][] LastLogits(Func<Tensor, Variable> forward, IReadOnlyList<int[]> rows, Device device)
    {
        using var noGrad = GradMode.NoGrad();
        using var scope = TensorScope.Open();
        int b = rows.Count, t = rows[0].Length;
        using var ids = Tensor.FromInts(rows.SelectMany(r => r).ToArray(), new Shape(b, t), device);
        // Only the last position leaves the device: [B, 1, V].
        var all = forward(ids).Value.Slice(1, t - 1, 1).ToArray();
        int v = all.Length / b;
        var last = new float[b][];
        for (int r = 0; r < b; r++) last[r] = all.AsSpan(r * v, v).ToArray();
        return last;
    }

    /// <summary>
    /// Samples up to MaxNewTokens per row, starting from the prompts' last logits; row r draws from <paramref name="streamOf"/>(r),
    /// rows in order at each step.
    /// </summary>
    static int[][] Decode(ILanguageModel model, IDecoder decoder, GenerationOptions options, Func<int, Generator> streamOf)
    {
        var sampling = options.Sampling ?? new SamplingOptions();
        sampling.Validate();
        if (options.MaxNewTokens < 0) throw new ArgumentException($"generate: max new tokens must be ≥ 0, got {options.MaxNewTokens}");
        var logits = decoder.Logits;
        int b = logits.Length;
        var outputs = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var done = new bool[b];
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            var next = new int[b];
            for (int r = 0; r < b; r++)
            {
                if (done[r]) continue;
                next[r] = Sampler.Choose(logits[r], sampling, streamOf(r), options.AllowedTokens);
                outputs[r].Add(next[r]);
                if (options.StopTokens?.Contains(next[r]) == true || options.StopWhen?.Invoke(outputs[r]) == true) done[r] = true;
            }
            if (done.All(d => d) || step + 1 >= options.MaxNewTokens || decoder.Length >= model.ContextLength) break;
            logits = decoder.Feed(next);
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }

    /// <summary>One token per row, as rows of length one.</summary>
    static int[][] Column(int[] next) => [.. next.Select(id => new[] { id })];

    /// <summary>The state of a batch being decoded: the logits after its last token, and a way to feed the next ones.</summary>
    interface IDecoder : IDisposable
    {
        /// <summary>Each row's logits at its last position.</summary>
        float[][] Logits { get; }

        /// <summary>Positions seen so far (every row has the same number).</summary>
        int Length { get; }

        /// <summary>Appends one token per row; returns the new last logits.</summary>
        float[][] Feed(int[] next);
    }

    /// <summary>A <see cref="Gpt"/> with one KV cache row per prompt.</summary>
    sealed class CacheDecoder : IDecoder
    {
        readonly Gpt _model;
        readonly KvCache _cache;

        public CacheDecoder(Gpt model, IReadOnlyList<int[]> prompts)
        {
            _model = model;
            _cache = new KvCache(model.Config, prompts.Count, model.Device);
            Logits = LastLogits(ids => model.Forward(ids, cache: _cache), prompts, model.Device);
        }

        public float[][] Logits { get; private set; }

        public int Length => _cache.Length;

        public float[][] Feed(int[] next) => Logits = LastLogits(ids => _model.Forward(ids, cache: _cache), Column(next), _model.Device);

        public void Dispose() => _cache.Dispose();
    }

    /// <summary>A <see cref="Gpt"/> whose samples of each prompt share that prompt's prefilled cache.</summary>
    sealed class BranchedCacheDecoder : IDecoder
    {
        readonly Gpt _model;
        readonly KvCache _prefix, _cache;

        public BranchedCacheDecoder(Gpt model, IReadOnlyList<int[]> prompts, int samples)
        {
            _model = model;
            _prefix = new KvCache(model.Config, prompts.Count, model.Device);
            var last = LastLogits(ids => model.Forward(ids, cache: _prefix), prompts, model.Device);
            _cache = _prefix.Branch(samples);
            Logits = [.. Enumerable.Range(0, prompts.Count * samples).Select(r => last[r / samples])];
        }

        public float[][] Logits { get; private set; }

        public int Length => _cache.Length;

        public float[][] Feed(int[] next) => Logits = LastLogits(ids => _model.Forward(ids, cache: _cache), Column(next), _model.Device);

        public void Dispose()
        {
            _cache.Dispose();
            _prefix.Dispose();
        }
    }

    /// <summary>Any model: every step runs the whole sequence so far.</summary>
    sealed class RecomputingDecoder : IDecoder
    {
        readonly ILanguageModel _model;
        readonly List<int>[] _rows;

        public RecomputingDecoder(ILanguageModel model, IReadOnlyList<int[]> prompts)
        {
            _model = model;
            _rows = [.. prompts.Select(p => new List<int>(p))];
            Logits = Run();
        }

        public float[][] Logits { get; private set; }

        public int Length => _rows[0].Count;

        public float[][] Feed(int[] next)
        {
            for (int r = 0; r < _rows.Length; r++) _rows[r].Add(next[r]);
            return Logits = Run();
        }

        float[][] Run() => LastLogits(ids => ILanguageModel.CheckedForward(_model, ids), [.. _rows.Select(r => r.ToArray())], _model.Device);

        public void Dispose()
        {
        }
    }
}
