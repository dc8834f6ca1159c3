using Engine.Rl.Experiments;
using Engine.Rl.Grpo;
using Engine.Rl.Rewards;
using Engine.Rl.Tasks;

namespace Engine.Tests;

public class RunningSumTaskTests
{
    static readonly RunningSumTask Task = RunningSumTask.Instance;

    [Fact]
    public void ACompletionWritesEveryRunningSum()
    {
        for (ulong i = 0; i < 200; i++)
        {
            var p = Task.Train(i);
            int[] digits = [.. p.Prompt[1..^1].Split('+').Select(int.Parse)];
            Assert.Equal(RunningSumTask.Terms, digits.Length);
            var sums = p.Answer[..^1].Split(',').Select(int.Parse).ToArray();
            // The k-th written sum is d0 + … + d(k+1).
            Assert.Equal(Enumerable.Range(1, RunningSumTask.Terms - 1).Select(k => digits.Take(k + 1).Sum()), sums);
            Assert.Equal(Task.PromptLength, Task.Tokenizer.Encode(p.Prompt).Length);
            Assert.Equal(Task.AnswerLength, Task.Tokenizer.Encode(p.Answer).Length);
        }
        Assert.InRange(Task.AnswerLength, 20, 60);
    }

    [Fact]
    public void TheHeldOutProblemsNeverOccurInTraining()
    {
        var heldOut = Enumerable.Range(0, 2000).Select(i => Task.HeldOut((ulong)i)).ToHashSet();
        var training = Enumerable.Range(0, 50000).Select(i => Task.Train((ulong)i)).ToHashSet();
        Assert.Empty(heldOut.Intersect(training));
        Assert.All(heldOut, p => Assert.True(RunningSumTask.IsHeldOut(p)));
        Assert.All(training, p => Assert.False(RunningSumTask.IsHeldOut(p)));
    }

    [Fact]
    public void TheRewardPaysForTheLastSumOnly()
    {
        var p = new ArithmeticProblem("^3+8+5+9+2+7+1+4=", "11,16,25,27,34,35,39;");
        Assert.True(Task.Solves(p, "11,16,25,27,34,35,39;"));
        Assert.True(Task.Solves(p, "11,17,25,27,30,35,39;"));   // wrong intermediate sums, right answer
        Assert.False(Task.Solves(p, "11,16,25,27,34,35,38;"));
        Assert.False(Task.Solves(p, "11,16,25,27,34,35,39"));   // no end mark
        float Reward(string completion)
        {
            var ids = Task.Tokenizer.Encode(completion);
            string text = completion.EndsWith(';') ? completion[..^1] : completion;
            return Task.Reward().Function.Score(new RewardInput(Task.Tokenizer.Encode(p.Prompt), ids, text, p));
        }
        Assert.Equal(1f, Reward("11,17,25,27,30,35,39;"));
        Assert.Equal(0f, Reward("11,16,25,27,34,35,38;"));
        Assert.Equal(0f, Reward("11,16,25,27,34,35,39"));
    }

    [Fact]
    public void TheDeepTaskRunsEndToEnd()
    {
        var settings = new ArithmeticSettings(SftSteps: 2, GrpoSteps: 2, Seeds: 1, EvalEvery: 1, EvalProblems: 4);
        using var start = ArithmeticExperiment.Pretrain(settings.SftSteps, seed: 0, task: Task);
        var grpo = ArithmeticExperiment.Run(start, lambda: false, seed: 0, settings, task: Task);
        var lambda = ArithmeticExperiment.Run(start, lambda: true, seed: 0, settings, task: Task);
        Assert.Equal([0, 1, 2], grpo.Accuracy.Select(a => a.Step));
        Assert.Equal(2, lambda.Steps.Count);
        Assert.All(grpo.Steps.Concat(lambda.Steps), m => Assert.InRange(m.LengthMax, 1, Task.AnswerLength));
        // Before the first update both methods sample the same groups from the same start and seed.
        Assert.Equal(grpo.Steps[0].RewardMean, lambda.Steps[0].RewardMean);
        Assert.Equal(grpo.Steps[0].PathDepth, lambda.Steps[0].PathDepth);
        Assert.Equal(grpo.Steps[0].Tokens, lambda.Steps[0].Tokens);
    }
}
