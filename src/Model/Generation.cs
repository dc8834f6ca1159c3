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

/// <summary>Autoregressive generation with a KV cache.</summary>
public static class Generation
{
    /// <summary>
    /// Continues each prompt. Prompts of equal length run as one batch; otherwise each prompt runs on its
    /// own. Returns the new tokens of each prompt.
    /// </summary>
    public static int[][] Generate(Gpt model, IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length != prompts[0].Length))
        {
            var rng = new Generator(options.Seed);
            return prompts.Select(p => Run(model, [p], cache: null, options, rng)[0]).ToArray();
        }
        return Run(model, prompts, cache: null, options, new Generator(options.Seed));
    }

    /// <summary>
    /// <paramref name="samples"/> continuations of one prompt: the prompt is prefilled once and every sample
    /// reads its keys and values from that one cache (<see cref="KvCache.Branch"/>, no copies) while they
    /// decode in one batch.
    /// </summary>
    public static int[][] GenerateGroup(Gpt model, int[] prompt, int samples, GenerationOptions options) =>
        GenerateGroups(model, [prompt], samples, options, [options.Seed])[0];

    /// <summary>
    /// <paramref name="samples"/> continuations of each of several prompts of one length, all decoding in one
    /// batch: the prompts are prefilled together, once each, and every sample reads its prompt's cache
    /// (no copies). Group g draws from its own Philox stream seeded with <paramref name="seeds"/>[g], so it
    /// gets the tokens <see cref="GenerateGroup"/> gives it with that seed.
    /// </summary>
    public static int[][][] GenerateGroups(Gpt model, IReadOnlyList<int[]> prompts, int samples, GenerationOptions options,
        IReadOnlyList<ulong> seeds)
    {
        if (samples <= 0) throw new ArgumentException($"generate: need at least one sample, got {samples}");
        if (prompts.Count == 0) return [];
        if (seeds.Count != prompts.Count) throw new ArgumentException($"generate: {prompts.Count} prompts but {seeds.Count} seeds");
        foreach (var p in prompts) CheckPrompt(model, p);
        if (prompts.Any(p => p.Length != prompts[0].Length))
            throw new ArgumentException(
                $"generate: grouped prompts must have one length, got {string.Join(", ", prompts.Select(p => p.Length).Distinct())}");
        var streams = seeds.Select(s => new Generator(s)).ToArray();
        using var prefix = new KvCache(model.Config, prompts.Count, model.Device);
        float[][] last;
        using (GradMode.NoGrad())
        using (TensorScope.Open())
            last = LastLogits(model, prompts, prefix);
        using var cache = prefix.Branch(samples);
        var rows = Decode(model, cache, Enumerable.Range(0, prompts.Count * samples).Select(r => last[r / samples]).ToArray(), options,
            r => streams[r / samples]);
        return Enumerable.Range(0, prompts.Count).Select(g => rows[(g * samples)..((g + 1) * samples)]).ToArray();
    }

    static int[][] Run(Gpt model, IReadOnlyList<int[]> prompts, KvCache? cache, GenerationOptions options, Generator rng)
    {
        foreach (var p in prompts) CheckPrompt(model, p);
        using var own = cache ?? new KvCache(model.Config, prompts.Count, model.Device);
        float[][] last;
        using (GradMode.NoGrad())
        using (TensorScope.Open())
            last = LastLogits(model, prompts, own);
        return Decode(model, own, last, options, _ => rng);
    }

    static void CheckPrompt(Gpt model, int[] prompt)
    {
        if (prompt.Length == 0) throw new ArgumentException("generate: the prompt is empty; start it with at least one token (e.g. BOS)");
        if (prompt.Length > model.Config.ContextLength)
            throw new ArgumentException(
                $"generate: the prompt has {prompt.Length} tokens, more than the context length {model.Config.ContextLength}");
        foreach (int id in prompt)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new ArgumentException($"generate: prompt token {id} is outside the vocabulary [0, {model.Config.VocabSize})");
    }

    /// <summary>Feeds [B, T] ids through the model, appending to the cache; returns each row's logits at its last position.</summary>
    static float[][] LastLogits(Gpt model, IReadOnlyList<int[]> rows, KvCache cache)
    {
        int b = rows.Count, t = rows[0].Length, v = model.Config.VocabSize;
        using var ids = Tensor.FromInts(rows.SelectMany(r => r).ToArray(), new Shape(b, t), model.Device);
        var logits = model.Forward(ids, cache: cache).Value;
        var all = logits.ToArray();
        var last = new float[b][];
        for (int r = 0; r < b; r++) last[r] = all.AsSpan(((r * t) + t - 1) * v, v).ToArray();
        return last;
    }

    /// <summary>Samples up to MaxNewTokens per row; row r draws from <paramref name="streamOf"/>(r), rows in order at each step.</summary>
    static int[][] Decode(Gpt model, KvCache cache, float[][] logits, GenerationOptions options, Func<int, Generator> streamOf)
    {
        var sampling = options.Sampling ?? new SamplingOptions();
        sampling.Validate();
        if (options.MaxNewTokens < 0) throw new ArgumentException($"generate: max new tokens must be ≥ 0, got {options.MaxNewTokens}");
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
            if (done.All(d => d) || step + 1 >= options.MaxNewTokens || cache.Length >= model.Config.ContextLength) break;
            using (GradMode.NoGrad())
            using (TensorScope.Open())
                logits = LastLogits(model, next.Select(id => new[] { id }).ToArray(), cache);
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }
}
