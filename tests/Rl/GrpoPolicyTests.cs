using Engine.Autograd;
using Engine.Model;
using Engine.Random;
using Engine.Rl.Experiments;
using Engine.Rl.Grpo;
using Engine.Rl.Tasks;

namespace Engine.Tests;

/// <summary>GRPO and generation take any <see cref="ILanguageModel"/>, not only <see cref="Gpt"/>.</summary>
public sealed class GrpoPolicyTests
{
    /// <summary>
    /// A tiny model of a user's own: logits[b, t] = P[t] + B[ids[b, t]], a learned table per position plus one per
    /// previous token. It is causal (position t reads only token t) and can represent any fixed path.
    /// </summary>
    sealed class PositionBigram : ILanguageModel
    {
        readonly Variable _byPosition, _byToken;

        public PositionBigram(int vocab, int context, ulong seed)
        {
            VocabSize = vocab;
            ContextLength = context;
            var rng = new Generator(seed);
            _byPosition = Variable.Parameter(rng.Normal(new Shape(context, vocab), 0f, 0.02f), "position");
            _byToken = Variable.Parameter(rng.Normal(new Shape(vocab, vocab), 0f, 0.02f), "token");
        }

        PositionBigram(PositionBigram source) : this(source.VocabSize, source.ContextLength, 0)
        {
            _byPosition.Value.CopyFrom(source._byPosition.Value.ToArray());
            _byToken.Value.CopyFrom(source._byToken.Value.ToArray());
        }

        public int VocabSize { get; }

        public int ContextLength { get; }

        public Device Device => Device.Cpu;

        public IReadOnlyList<Variable> TrainableParameters => [_byPosition, _byToken];

        public Variable Forward(Tensor ids)
        {
            int b = ids.Shape[0], t = ids.Shape[1];
            var positions = Tensor.FromInts([.. Enumerable.Range(0, b * t).Select(i => i % t)], new Shape(b * t));
            var logits = Variable.Embedding(_byPosition, positions) + Variable.Embedding(_byToken, ids.Reshape(b * t));
            return logits.Reshape(b, t, VocabSize);
        }

        public ILanguageModel Clone() => new PositionBigram(this);

        public void Dispose()
        {
            _byPosition.Dispose();
            _byToken.Dispose();
        }
    }

    /// <summary>A broken model whose logits miss the vocabulary axis.</summary>
    sealed class WrongShape(PositionBigram inner) : ILanguageModel
    {
        public int VocabSize => inner.VocabSize;

        public int ContextLength => inner.ContextLength;

        public Device Device => inner.Device;

        public IReadOnlyList<Variable> TrainableParameters => inner.TrainableParameters;

        public Variable Forward(Tensor ids) => inner.Forward(ids).Sum(-1);

        public ILanguageModel Clone() => new WrongShape((PositionBigram)inner.Clone());

        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void AUserPolicyLearnsTheTreeTarget()
    {
        var task = new TreeTask(1, 0.7f);
        using var policy = new PositionBigram(TreeTask.VocabSize, 5, seed: 4);
        var options = TreeExperiment.Options(lambda: true, seed: 1, learningRate: 3e-2f) with { Beta = 0.02f };
        using var trainer = new GrpoTrainer(policy, options, [task.AsReward()], allowedTokens: TreeTask.Alphabet);
        Assert.IsType<PositionBigram>(trainer.Reference);
        double first = -1, last = 0;
        for (int s = 0; s < 60; s++)
        {
            var (groups, metrics) = trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
            Assert.All(groups[0].Completions, c => Assert.Equal(4, c.Length));
            Assert.Equal(1, trainer.LastPackedShare);
            last = groups[0].Completions.Count(task.IsTarget) / (double)groups[0].Completions.Length;
            if (first < 0) first = last;
            Assert.True(double.IsFinite(metrics.Loss));
        }
        Assert.True(last >= 0.5 && last > first, $"target frequency {first} → {last} after 60 steps");
        var (reward, _, _) = trainer.Evaluate([new GrpoPrompt(TreeTask.Prompt)]);
        Assert.Equal(1, reward);
    }

    [Fact]
    public void GenerationWithoutACacheMatchesTheCachedGpt()
    {
        // A Gpt seen only through the interface decodes by recomputation: the same tokens as with its KV cache.
        var config = new GptConfig(VocabSize: 11, ContextLength: 12, Width: 16, Layers: 2, Heads: 2);
        using var gpt = new Gpt(config, seed: 3);
        var viaInterface = new Recomputing(gpt);
        var options = new GenerationOptions(MaxNewTokens: 20, Seed: 5);
        int[][] prompts = [[1, 2, 3], [4, 5, 6]];
        Assert.Equal(Generation.Generate(gpt, prompts, options), Generation.Generate(viaInterface, prompts, options));
        Assert.Equal(Generation.GenerateGroups(gpt, prompts, 3, options, [7, 8]),
            Generation.GenerateGroups(viaInterface, prompts, 3, options, [7, 8]));
    }

    /// <summary>A Gpt behind the interface only, so generation cannot see its cache.</summary>
    sealed class Recomputing(Gpt gpt) : ILanguageModel
    {
        public int VocabSize => gpt.VocabSize;

        public int ContextLength => gpt.ContextLength;

        public Device Device => gpt.Device;

        public IReadOnlyList<Variable> TrainableParameters => [.. gpt.Parameters.Values];

        public Variable Forward(Tensor ids) => gpt.Forward(ids);

        public ILanguageModel Clone() => new Recomputing(gpt.Clone());

        public void Dispose()
        {
        }
    }

    [Fact]
    public void APolicyWithLogitsOfTheWrongShapeIsNamed()
    {
        using var policy = new WrongShape(new PositionBigram(TreeTask.VocabSize, 5, seed: 1));
        var e = Assert.Throws<TensorShapeException>(() => Generation.Generate(policy, [TreeTask.Prompt], new GenerationOptions(3)));
        Assert.Contains("WrongShape", e.Message);
        Assert.Contains("[1, 1, 3]", e.Message);
    }
}
