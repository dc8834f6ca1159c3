using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Tests.Support;

namespace Engine.Tests;

public class GptTests
{
    static readonly GptConfig Micro = new(VocabSize: 11, ContextLength: 12, Width: 16, Layers: 2, Heads: 2);

    [Fact]
    public void InitialisationFollowsGpt2()
    {
        using var model = new Gpt(GptConfig.Tiny, seed: 1);
        var wte = model["wte.weight"].Value.ToArray();
        double std = Math.Sqrt(wte.Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.019, 0.021);
        var proj = model["h.0.mlp.c_proj.weight"].Value.ToArray();
        double projStd = Math.Sqrt(proj.Select(v => (double)v * v).Average());
        Assert.InRange(projStd, 0.02 / Math.Sqrt(8) * 0.95, 0.02 / Math.Sqrt(8) * 1.05);
        Assert.All(model["h.3.ln_2.weight"].Value.ToArray(), v => Assert.Equal(1f, v));
        Assert.All(model["h.1.attn.c_attn.bias"].Value.ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(new Shape(128, 384), model["h.0.attn.c_attn.weight"].Shape);
    }

    [Fact]
    public void KvCacheGenerationMatchesFullRecomputation()
    {
        using var model = new Gpt(Micro, seed: 3);
        int[] prompt = [1, 5, 2];
        var cached = Generation.Generate(model, [prompt], new GenerationOptions(8, SamplingOptions.ArgMax))[0];

        var seq = prompt.ToList();
        for (int i = 0; i < 8; i++)
        {
            using var scope = TensorScope.Open();
            using var _ = GradMode.NoGrad();
            var ids = Engine.Tensor.FromInts(seq.ToArray(), new Shape(1, seq.Count));
            var logits = model.Forward(ids).Value.ToArray();
            var last = logits.AsSpan((seq.Count - 1) * Micro.VocabSize, Micro.VocabSize);
            int best = 0;
            for (int v = 1; v < last.Length; v++) if (last[v] > last[best]) best = v;
            seq.Add(best);
        }
        Assert.Equal(seq.Skip(prompt.Length).ToArray(), cached);
    }

    [Fact]
    public void CachedLogitsMatchTheFullForward()
    {
        using var model = new Gpt(Micro, seed: 4);
        int[] tokens = [3, 1, 4, 1, 5, 9, 2];
        using var scope = TensorScope.Open();
        using var _ = GradMode.NoGrad();
        var full = model.Forward(Engine.Tensor.FromInts(tokens, new Shape(1, 7))).Value.ToArray();
        using var cache = new KvCache(Micro, 1);
        model.Forward(Engine.Tensor.FromInts(tokens[..4], new Shape(1, 4)), cache: cache);
        for (int t = 4; t < 7; t++)
        {
            var step = model.Forward(Engine.Tensor.FromInts([tokens[t]], new Shape(1, 1)), cache: cache).Value.ToArray();
            Tolerance.AssertClose(step, full.AsSpan(t * 11, 11).ToArray(), 1e-5, 1e-4, $"position {t}");
        }
    }

    [Fact]
    public void ABranchedCacheReadsTheSharedPromptAndMatchesTheFullForward()
    {
        using var model = new Gpt(Micro, seed: 8);
        int[] prompt = [3, 1, 4, 1];
        int[][] continuations = [[5, 9, 2], [6, 5, 3], [5, 8, 9]];
        using var scope = TensorScope.Open();
        using var _ = GradMode.NoGrad();
        using var single = new KvCache(Micro, 1);
        model.Forward(Engine.Tensor.FromInts(prompt, new Shape(1, 4)), cache: single);
        using var branch = single.Branch(3);
        Assert.Equal(4, branch.PrefixLength);
        Assert.Equal(4, branch.Length);
        // Two new positions at once (causal among themselves), then one.
        var first = model.Forward(Engine.Tensor.FromInts(continuations.SelectMany(c => c[..2]).ToArray(), new Shape(3, 2)),
            cache: branch).Value.ToArray();
        var second = model.Forward(Engine.Tensor.FromInts(continuations.Select(c => c[2]).ToArray(), new Shape(3, 1)),
            cache: branch).Value.ToArray();
        Assert.Equal(7, branch.Length);
        for (int r = 0; r < 3; r++)
        {
            var full = model.Forward(Engine.Tensor.FromInts([.. prompt, .. continuations[r]], new Shape(1, 7))).Value.ToArray();
            Tolerance.AssertClose(first.AsSpan(r * 2 * 11, 2 * 11).ToArray(), full.AsSpan(4 * 11, 2 * 11).ToArray(), 1e-5, 1e-4,
                $"sample {r}, positions 4-5");
            Tolerance.AssertClose(second.AsSpan(r * 11, 11).ToArray(), full.AsSpan(6 * 11, 11).ToArray(), 1e-5, 1e-4, $"sample {r}, position 6");
        }
        Assert.Throws<InvalidOperationException>(() => branch.Branch(2));
    }

    [Fact]
    public void GroupSamplingIsSeededAndSharesThePrompt()
    {
        using var model = new Gpt(Micro, seed: 5);
        var options = new GenerationOptions(6, new SamplingOptions(Temperature: 1.5f, TopK: 5, TopP: 0.9f), Seed: 42,
            StopTokens: new HashSet<int> { 0 });
        var a = Generation.GenerateGroup(model, [1, 2], 4, options);
        var b = Generation.GenerateGroup(model, [1, 2], 4, options);
        Assert.Equal(a, b);
        Assert.Equal(4, a.Length);
        foreach (var s in a)
        {
            Assert.InRange(s.Length, 1, 6);
            Assert.DoesNotContain(0, s[..^1]); // only the last token may be a stop token
        }
        // the group equals a batch of the same prompt with the same stream
        var batch = Generation.Generate(model, [[1, 2], [1, 2], [1, 2], [1, 2]], options);
        Assert.Equal(a, batch);
    }

    [Fact]
    public void GroupsOfSeveralPromptsDecodeTogetherWithTheirOwnStreams()
    {
        using var model = new Gpt(Micro, seed: 9);
        var options = new GenerationOptions(5, new SamplingOptions(Temperature: 1.3f), StopTokens: new HashSet<int> { 0 });
        int[][] prompts = [[1, 2, 3], [4, 4, 1], [7, 2, 9]];
        ulong[] seeds = [11, 12, 13];
        var together = Generation.GenerateGroups(model, prompts, 4, options, seeds);
        for (int g = 0; g < prompts.Length; g++)
            Assert.Equal(Generation.GenerateGroup(model, prompts[g], 4, options with { Seed = seeds[g] }), together[g]);
        Assert.NotEqual(together[0], together[1]);
        var e = Assert.Throws<ArgumentException>(() => Generation.GenerateGroups(model, [[1, 2], [1]], 2, options, [1, 2]));
        Assert.Contains("one length", e.Message);
    }

    [Fact]
    public void AllowedTokensRestrictSampling()
    {
        using var model = new Gpt(Micro, seed: 6);
        var s = Generation.GenerateGroup(model, [1], 8, new GenerationOptions(4, Seed: 1, AllowedTokens: [3, 7]));
        Assert.All(s.SelectMany(x => x), id => Assert.Contains(id, new[] { 3, 7 }));
    }

    [Fact]
    public void APromptLongerThanTheContextIsAClearError()
    {
        using var model = new Gpt(Micro, seed: 7);
        var e = Assert.Throws<ArgumentException>(() => Generation.Generate(model, [new int[13]], new GenerationOptions(1)));
        Assert.Contains("context length 12", e.Message);
    }

    [Fact]
    public void TrainingReducesTheLossOnARepeatingSequence()
    {
        using var model = new Gpt(Micro, seed: 8);
        using var opt = new AdamW(model.Parameters.Values, lr: 3e-3f);
        var data = Enumerable.Range(0, 9).Select(i => i % 5).ToArray();
        using var x = Engine.Tensor.FromInts(data[..8], new Shape(1, 8));
        using var y = Engine.Tensor.FromInts(data[1..], new Shape(1, 8));
        float first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            var loss = Gpt.Loss(model.Forward(x), y);
            loss.Backward();
            opt.Step();
            last = loss.Value.ToScalar();
            if (step == 0) first = last;
        }
        Assert.True(last < first * 0.2f, $"loss {first} → {last}");
    }
}
