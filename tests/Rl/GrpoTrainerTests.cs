using Engine.Model;
using Engine.Rl.Experiments;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;
using Engine.Rl.Tasks;

namespace Engine.Tests;

public class GrpoTrainerTests
{
    static readonly GptConfig Micro = new(VocabSize: TreeTask.VocabSize, ContextLength: 5, Width: 16, Layers: 1, Heads: 2);

    [Fact]
    public void TreeTaskRewardsFollowThePaper()
    {
        var task = new TreeTask(sharedPrefix: 2, negativeReward: -1f);
        Assert.Equal(1f, task.Reward(TreeTask.Parse("LLRL")));
        Assert.Equal(-1f, task.Reward(TreeTask.Parse("LLRR")));   // shares LL with the target
        Assert.Equal(-1f, task.Reward(TreeTask.Parse("LLLL")));
        Assert.Equal(0.7f, task.Reward(TreeTask.Parse("LRRL")));  // shares only L
        Assert.Equal(0.7f, task.Reward(TreeTask.Parse("RLRL")));
    }

    [Fact]
    public void ARunIsReproducibleFromItsSeed()
    {
        float[] Run()
        {
            using var policy = new Gpt(Micro, seed: 1);
            var task = new TreeTask(1, -1f);
            using var trainer = new GrpoTrainer(policy,
                new GrpoOptions(GroupSize: 8, MaxNewTokens: 4, LearningRate: 1e-2f, Seed: 9, Mu: 2, Beta: 0.05f),
                [task.AsReward()], allowedTokens: TreeTask.Alphabet);
            for (int s = 0; s < 4; s++) trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
            return policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void SamplesStayInsideTheAllowedAlphabet()
    {
        using var policy = new Gpt(Micro, seed: 2);
        using var trainer = new GrpoTrainer(policy, new GrpoOptions(GroupSize: 16, MaxNewTokens: 4), [new TreeTask(1, -1f).AsReward()],
            allowedTokens: TreeTask.Alphabet);
        var (groups, metrics) = trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
        Assert.All(groups[0].Completions, c => Assert.Equal(4, c.Length));
        Assert.All(groups[0].Completions.SelectMany(c => c), id => Assert.Contains(id, TreeTask.Alphabet));
        Assert.Equal(4, metrics.LengthMean);
        Assert.InRange(metrics.LambdaMean, 1, 16);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AFailingRewardStopsTheStepWithoutTouchingTheModel(bool nan)
    {
        using var policy = new Gpt(Micro, seed: 3);
        var before = policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray();
        var bad = new DelegateReward("bad",
            input => input.Completion[0] == TreeTask.R ? (nan ? float.NaN : throw new InvalidOperationException("boom")) : 1f);
        using var trainer = new GrpoTrainer(policy, new GrpoOptions(GroupSize: 16, MaxNewTokens: 4), [new WeightedReward(bad)],
            allowedTokens: TreeTask.Alphabet);
        var e = Assert.Throws<RewardException>(() => trainer.Step([new GrpoPrompt(TreeTask.Prompt)]));
        Assert.Contains("'bad'", e.Message);
        Assert.Contains("prompt [0]", e.Message);
        Assert.Contains("completion [2", e.Message);
        Assert.Equal(before, policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray());
    }

    [Fact]
    public void AGroupOfOneHasNoAdvantageAndLeavesThePolicyAlone()
    {
        using var policy = new Gpt(Micro, seed: 5);
        var before = policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray();
        using var trainer = new GrpoTrainer(policy, new GrpoOptions(GroupSize: 1, MaxNewTokens: 4), [new TreeTask(1, -1f).AsReward()],
            allowedTokens: TreeTask.Alphabet);
        var (groups, metrics) = trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
        Assert.Equal([0f], groups[0].Analysis.Advantages);
        Assert.Equal(1, metrics.LambdaMean);
        Assert.Equal(before, policy.Parameters.Values.SelectMany(p => p.Value.ToArray()).ToArray());
    }

    [Fact]
    public void RewardsCombineWithTheirWeights()
    {
        var input = new RewardInput([0], [1, 2], "ab", null);
        float total = RewardScoring.Score([new(new DelegateReward("one", _ => 1f), 0.5f),
            new(new DelegateReward("len", i => i.Completion.Count), 2f)], input);
        Assert.Equal(4.5f, total);
    }

    [Fact]
    public void LambdaGrpoLearnsTheTreeTargetWithoutTheTrap()
    {
        // With no trap (r_neg = 0.7, the default reward), the target path is simply the best path: both
        // methods must find it. A smoke test of the whole loop: sampling, scoring, trie, update.
        var task = new TreeTask(1, 0.7f);
        using var policy = new Gpt(TreeExperiment.Model, seed: 4);
        using var trainer = new GrpoTrainer(policy, TreeExperiment.Options(lambda: true, seed: 1, learningRate: 3e-3f), [task.AsReward()],
            allowedTokens: TreeTask.Alphabet);
        double last = 0;
        for (int s = 0; s < 60; s++)
        {
            var (groups, _) = trainer.Step([new GrpoPrompt(TreeTask.Prompt)]);
            last = groups[0].Completions.Count(task.IsTarget) / 16.0;
        }
        Assert.True(last >= 0.5, $"target frequency after 60 steps: {last}");
    }

    [Fact]
    public void TheArithmeticHeldOutProblemsNeverOccurInTraining()
    {
        // The whole problem space is 20,000; 60,000 training draws cover nearly all of the training side.
        var heldOut = Enumerable.Range(0, 2000).Select(i => ArithmeticTask.HeldOut((ulong)i)).ToHashSet();
        var training = Enumerable.Range(0, 60000).Select(i => ArithmeticTask.Train((ulong)i)).ToHashSet();
        Assert.Empty(heldOut.Intersect(training));
        Assert.All(heldOut, p => Assert.True(ArithmeticTask.IsHeldOut(p)));
        Assert.InRange(heldOut.Count, 1000, 2000);
        Assert.InRange(training.Count, 15000, 18000);
    }
}
