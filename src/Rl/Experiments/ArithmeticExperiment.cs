using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Rl.Grpo;
using Engine.Rl.Tasks;

namespace Engine.Rl.Experiments;

/// <summary>Sizes of the arithmetic demo.</summary>
/// <param name="SftSteps">Supervised steps before RL (chosen to reach a modest accuracy).</param>
/// <param name="GrpoSteps">GRPO steps per run.</param>
/// <param name="Seeds">Seeds per method; each seed has its own supervised start, shared by its GRPO and λ-GRPO runs.</param>
/// <param name="EvalEvery">Steps between held-out evaluations.</param>
/// <param name="EvalProblems">Held-out problems per evaluation (greedy decoding).</param>
/// <param name="LearningRate">AdamW learning rate of the RL phase.</param>
/// <param name="PackedTree">Train each group on its packed trie (off: k separate rows; same gradients).</param>
public sealed record ArithmeticSettings(int SftSteps = 550, int GrpoSteps = 400, int Seeds = 5, int EvalEvery = 10, int EvalProblems = 256,
    float LearningRate = 1e-4f,
    bool PackedTree = true)
{
    /// <summary>The fast variant.</summary>
    public static ArithmeticSettings Quick => new(SftSteps: 550, GrpoSteps: 40, Seeds: 2, EvalEvery: 10, EvalProblems: 128);

    /// <summary>
    /// The deep-tree comparison on <see cref="RunningSumTask"/> (21-token completions). Its RL learning rate is 1e-5: at 1e-4 both
    /// methods lose half the supervised start's held-out accuracy within 40 steps (bench/RESULTS.md).
    /// </summary>
    public static ArithmeticSettings RunningSums => new(SftSteps: 400, GrpoSteps: 200, Seeds: 5, EvalEvery: 20, EvalProblems: 256,
        LearningRate: 1e-5f);

    /// <summary>The fast variant of <see cref="RunningSums"/>.</summary>
    public static ArithmeticSettings RunningSumsQuick => new(SftSteps: 150, GrpoSteps: 20, Seeds: 2, EvalEvery: 10, EvalProblems: 64,
        LearningRate: 1e-5f);
}

/// <summary>One RL run from its seed's supervised start.</summary>
/// <param name="Lambda">λ-GRPO or GRPO.</param>
/// <param name="Seed">The seed of the supervised start and of sampling.</param>
/// <param name="Accuracy">Held-out accuracy by step (step 0 is the start).</param>
/// <param name="Steps">The metrics of every step.</param>
public sealed record ArithmeticRun(bool Lambda, int Seed, IReadOnlyList<(int Step, double Accuracy)> Accuracy, IReadOnlyList<GrpoStepMetrics> Steps)
{
    /// <summary>Best held-out accuracy.</summary>
    public double Peak => Accuracy.Max(a => a.Accuracy);

    /// <summary>The accuracy of the last evaluation.</summary>
    public double Final => Accuracy[^1].Accuracy;

    /// <summary>The first evaluated step that covered 90 % of the rise from the start to the peak.</summary>
    public int StepsTo90 => SeedStatistics.StepsToFraction(Accuracy, 0.9);
}

/// <summary>
/// The verifiable-reward demo, on any <see cref="IProblemTask"/> (two-digit arithmetic by default, or the deep-tree
/// <see cref="RunningSumTask"/>): a small GPT learns two-digit addition and subtraction by supervised
/// training to a modest accuracy, then GRPO and λ-GRPO continue from that same start with the same seed; each seed trains its own
/// start, so the spread over seeds includes the supervised phase's.
/// </summary>
public static class ArithmeticExperiment
{
    /// <summary>The policy for <paramref name="task"/>: 2 blocks of width 64, 4 heads, a context of one prompt and its answer.</summary>
    public static GptConfig ModelFor(IProblemTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new(task.Tokenizer.VocabSize, task.PromptLength + task.AnswerLength, Width: 64, Layers: 2, Heads: 4);
    }

    /// <summary>GRPO settings shared by both methods.</summary>
    public static GrpoOptions Options(bool lambda, int seed, float learningRate, bool packedTree = true,
        int maxNewTokens = ArithmeticTask.AnswerLength) => new(GroupSize: 8, PromptsPerStep: 8, MaxNewTokens: maxNewTokens,
        LambdaScaling: lambda, Aggregation: Aggregation.TokenMean, LearningRate: learningRate, GradClip: 1f, Seed: (ulong)seed,
        PackedTree: packedTree);

    /// <summary>
    /// Supervised training on the answer tokens of training problems, on <paramref name="device"/> (default: the CPU); returns the model.
    /// <paramref name="seed"/> picks the initialisation and the stream of training problems; <paramref name="task"/> defaults to
    /// two-digit arithmetic.
    /// </summary>
    public static Gpt Pretrain(int steps, Action<int, float>? onStep = null, Device? device = null, int seed = 0, IProblemTask? task = null)
    {
        task ??= ArithmeticTask.AsTask;
        var model = new Gpt(ModelFor(task), seed: 7 + (ulong)seed, device);
        using var opt = new AdamW(model.Parameters.Values, 3e-3f, weightDecay: 0f);
        const int batch = 64;
        int t = task.PromptLength + task.AnswerLength - 1;
        var schedule = LrSchedule.Cosine(3e-3f, 20, steps, 3e-4f);
        ulong next = (ulong)seed << 32;
        for (int s = 0; s < steps; s++)
        {
            var x = new int[batch * t];
            var y = new int[batch * t];
            for (int r = 0; r < batch; r++)
            {
                var p = task.Train(next++);
                var ids = task.Tokenizer.Encode(p.Prompt + p.Answer);
                Array.Copy(ids, 0, x, r * t, t);
                for (int i = 0; i < t; i++) y[r * t + i] = i >= task.PromptLength - 1 ? ids[i + 1] : -100;
            }
            using var scope = TensorScope.Open();
            opt.LearningRate = schedule.At(s);
            opt.ZeroGrad();
            var inputs = Tensor.FromInts(x, new Shape(batch, t), model.Device);
            var loss = Gpt.Loss(model.Forward(inputs), Tensor.FromInts(y, new Shape(batch, t), model.Device));
            loss.Backward();
            opt.ClipGradNorm(1f);
            opt.Step();
            onStep?.Invoke(s + 1, loss.Value.ToScalar());
        }
        return model;
    }

    /// <summary>Share of the first <paramref name="count"/> held-out problems solved (<see cref="IProblemTask.Solves"/>), greedily.</summary>
    public static double Accuracy(Gpt model, int count, IProblemTask? task = null)
    {
        task ??= ArithmeticTask.AsTask;
        var problems = Enumerable.Range(0, count).Select(i => task.HeldOut((ulong)i)).ToArray();
        var prompts = problems.Select(p => task.Tokenizer.Encode(p.Prompt)).ToArray();
        var answers = Generation.Generate(model, prompts,
            new GenerationOptions(task.AnswerLength, SamplingOptions.ArgMax, StopTokens: new HashSet<int> { task.End }));
        return (double)problems.Zip(answers).Count(pa => task.Solves(pa.First, task.Tokenizer.Decode(pa.Second))) / count;
    }

    /// <summary>GRPO or λ-GRPO on <paramref name="task"/> (default: two-digit arithmetic) from <paramref name="start"/> (not modified).</summary>
    public static ArithmeticRun Run(Gpt start, bool lambda, int seed, ArithmeticSettings settings, Action<GrpoStepMetrics>? onStep = null,
        IProblemTask? task = null)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(settings);
        task ??= ArithmeticTask.AsTask;
        using var policy = start.Clone();
        var options = Options(lambda, seed, settings.LearningRate, settings.PackedTree, task.AnswerLength);
        using var trainer = new GrpoTrainer(policy, options, [task.Reward()], task.Tokenizer, stopTokens: new HashSet<int> { task.End });
        var accuracy = new List<(int, double)> { (0, Accuracy(policy, settings.EvalProblems, task)) };
        var steps = new List<GrpoStepMetrics>();
        ulong next = (ulong)seed * 1_000_000;
        for (int s = 1; s <= settings.GrpoSteps; s++)
        {
            var prompts = Enumerable.Range(0, options.PromptsPerStep).Select(_ =>
            {
                var p = task.Train(next++);
                return new GrpoPrompt(task.Tokenizer.Encode(p.Prompt), p);
            }).ToArray();
            using (TensorScope.Open())
            {
                var (_, metrics) = trainer.Step(prompts);
                steps.Add(metrics);
                onStep?.Invoke(metrics);
            }
            if (s % settings.EvalEvery == 0 || s == settings.GrpoSteps) accuracy.Add((s, Accuracy(policy, settings.EvalProblems, task)));
        }
        return new ArithmeticRun(lambda, seed, accuracy, steps);
    }
}
