using System.Diagnostics;
using Engine.Autograd;
using Engine.Model;
using Engine.Rl.Experiments;
using Engine.Rl.Grpo;
using Engine.Rl.Tasks;

namespace Engine.Bench;

/// <summary>
/// `dotnet run -c Release --project bench -- packed [--runs R]`: the GRPO update of one group (forward and
/// backward of the loss) with the group packed into its trie's unique tokens against k padded rows, on the
/// `tiny` model widened to a 640-token context. Groups of 8 and 16, prompts of 32, 128 and 512 tokens;
/// completions either sampled by the arithmetic demo's supervised policy (its real overlap, 5 tokens each),
/// or 32 tokens long sharing their first 0 %, 50 % or 90 % (synthetic). "trainer" says which layout
/// <see cref="GrpoTrainer"/> picks from its cost model. Medians of R interleaved runs.
/// </summary>
static class PackedGrpoTiming
{
    const int SyntheticLength = 32;

    public static int Run(string[] args)
    {
        int runs = args is ["--runs", var count] ? int.Parse(count, System.Globalization.CultureInfo.InvariantCulture) : 5;
        var config = GptConfig.Tiny with { ContextLength = 640 };
        using var model = new Gpt(config, seed: 1);
        var options = new GrpoOptions(Aggregation: Aggregation.TokenMean, LambdaScaling: true);

        Console.Error.WriteLine("sampling arithmetic groups from the demo's supervised policy …");
        var arith = ArithGroups();
        Console.WriteLine($"# {config.Layers} layers, width {config.Width}, {config.Heads} heads, vocab {config.VocabSize}; " +
            $"λ-GRPO token-mean, μ = 1; {Environment.ProcessorCount} threads; median of {runs}");
        Console.WriteLine("| group | prompt | completions | overlap | packed / unpacked tokens | unpacked ms | packed ms | speed-up | trainer |");
        Console.WriteLine("|---:|---:|---|---:|---:|---:|---:|---:|---|");
        foreach (int k in new[] { 8, 16 })
            foreach (int p in new[] { 1, 32, 128, 512 })
            {
                var prompt = Enumerable.Range(0, p).Select(i => 1 + i * 7 % (config.VocabSize - 1)).ToArray();
                foreach (var (name, completions) in new[] { ("arith", arith[k]) }.Concat(new[] { 0.0, 0.5,
                    0.9 }.Select(o => ($"{o:P0}", Synthetic(k, o, config.VocabSize)))))
                    Measure(model, options, k, prompt, name, completions, runs);
            }

        Console.WriteLine();
        Console.WriteLine("Sampling a group (prefill, then 32 decode steps of all k samples): the prompt prefilled for every sample, " +
            "each with its own cache, against prefilled once and shared (`KvCache.Branch`).");
        Console.WriteLine();
        Console.WriteLine("| group | prompt | per-sample ms | shared ms | speed-up |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (int k in new[] { 8, 16 })
            foreach (int p in new[] { 32, 128, 512 })
            {
                var prompt = Enumerable.Range(0, p).Select(i => 1 + i * 7 % (config.VocabSize - 1)).ToArray();
                var perSampleRuns = new double[runs];
                var sharedRuns = new double[runs];
                Decode(model, prompt, k, share: false);
                Decode(model, prompt, k, share: true);
                for (int r = 0; r < runs; r++)
                {
                    perSampleRuns[r] = Decode(model, prompt, k, share: false);
                    sharedRuns[r] = Decode(model, prompt, k, share: true);
                }
                double perSample = Median(perSampleRuns), shared = Median(sharedRuns);
                Console.WriteLine(FormattableString.Invariant($"| {k} | {p} | {perSample:F1} | {shared:F1} | {perSample / shared:F2}× |"));
            }
        return 0;
    }

    /// <summary>
    /// Milliseconds to prefill <paramref name="prompt"/> (once and shared, or once per sample) and decode 32 tokens for k
    /// samples (greedy on each sample's logits, for timing only).
    /// </summary>
    static double Decode(Gpt model, int[] prompt, int k, bool share)
    {
        var sw = Stopwatch.StartNew();
        using var grad = GradMode.NoGrad();
        using var scope = TensorScope.Open();
        using var single = new KvCache(model.Config, share ? 1 : k, model.Device);
        int rows = single.Batch;
        model.Forward(Tensor.FromInts([.. Enumerable.Range(0, rows).SelectMany(_ => prompt)], new Shape(rows, prompt.Length)), cache: single);
        using var cache = share ? single.Branch(k) : null;
        var ids = Enumerable.Range(0, k).Select(i => 1 + i % (model.Config.VocabSize - 1)).ToArray();
        for (int step = 0; step < 32; step++)
        {
            using var inner = TensorScope.Open();
            var logits = model.Forward(Tensor.FromInts(ids, new Shape(k, 1)), cache: cache ?? single).Value;
            using var next = logits.Reshape(k, -1).ArgMax(-1);
            ids = next.ToInts();
        }
        return sw.Elapsed.TotalMilliseconds;
    }

    static void Measure(Gpt model, GrpoOptions options, int k, int[] prompt, string name, int[][] completions, int runs)
    {
        var trie = Engine.Rl.Trie.PrefixTrie.Build(prompt, completions);
        var rewards = Enumerable.Range(0, k).Select(i => (float)(i % 3)).ToArray();
        var advantages = GroupAdvantages.Compute(rewards, true, 1e-4f);
        var batch = new GroupBatch(prompt, completions, advantages,
            GroupBatch.TokenWeights(completions, trie.LambdaScales(), options.Aggregation, options.MaxNewTokens));
        var packed = new PackedGroup(batch, trie);
        double Time(bool pack)
        {
            var sw = Stopwatch.StartNew();
            using var scope = TensorScope.Open();
            foreach (var p in model.Parameters.Values) p.ZeroGrad();
            var loss = pack
                ? GrpoObjective.PackedLoss(model, packed, null, null, options, null, out _, out _)
                : GrpoObjective.Loss(model, batch, null, null, options, null, out _, out _);
            loss.Backward();
            return sw.Elapsed.TotalMilliseconds;
        }
        Time(false);
        Time(true);
        var unpacked = new double[runs];
        var tree = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            unpacked[r] = Time(false);
            tree[r] = Time(true);
        }
        double u = Median(unpacked), t = Median(tree);
        double overlap = Enumerable.Range(0, k).Average(trie.IntermediateProportion);
        bool choice = packed.IsCheaperThanUnpacked(model.Config, model.Device.HasTreeAttention);
        string tokens = FormattableString.Invariant($"{packed.Length} / {batch.Rows * batch.Time}");
        Console.WriteLine(FormattableString.Invariant(
            $"| {k} | {prompt.Length} | {name} | {overlap:P0} | {tokens} | {u:F1} | {t:F1} | {u / t:F2}× | {(choice ? "packed" : "unpacked")} |"));
    }

    static double Median(double[] x)
    {
        var s = x.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>k completions of <see cref="SyntheticLength"/> tokens sharing their first ⌊overlap·length⌋ tokens, then all distinct.</summary>
    static int[][] Synthetic(int k, double overlap, int vocab)
    {
        int shared = (int)(overlap * SyntheticLength);
        var rng = new System.Random(k * 1000 + shared);
        var prefix = Enumerable.Range(0, shared).Select(_ => rng.Next(1, vocab)).ToArray();
        return Enumerable.Range(0, k).Select(i => prefix
            .Append(1 + i % (vocab - 1)) // the first token after the shared prefix tells the completions apart
            .Concat(Enumerable.Range(0, SyntheticLength - shared - 1).Select(_ => rng.Next(1, vocab)))
            .ToArray()).ToArray();
    }

    /// <summary>One group per size sampled at temperature 1 from the arithmetic demo's policy after its supervised phase.</summary>
    static Dictionary<int, int[][]> ArithGroups()
    {
        using var policy = ArithmeticExperiment.Pretrain(new ArithmeticSettings().SftSteps);
        var groups = new Dictionary<int, int[][]>();
        foreach (int k in new[] { 8, 16 })
        {
            var problem = ArithmeticTask.Train((ulong)k);
            var options = new GenerationOptions(ArithmeticTask.AnswerLength, new SamplingOptions(false, 1f, 0, 1f), Seed: (ulong)k,
                StopTokens: new HashSet<int> { ArithmeticTask.End });
            groups[k] = Generation.GenerateGroup(policy, ArithmeticTask.Tokenizer.Encode(problem.Prompt), k, options);
        }
        return groups;
    }
}
