using System.Diagnostics;
using System.Globalization;
using Engine.Autograd;
using Engine.Autograd.Optimizers;

namespace Engine.Model.Training;

/// <summary>Settings of a language-model training run.</summary>
/// <param name="Steps">Optimizer steps in total.</param>
/// <param name="BatchSize">Rows per batch; each row is a full context window.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="WarmupSteps">Linear warm-up steps before the cosine decay.</param>
/// <param name="MinLearningRate">Learning rate at the last step.</param>
/// <param name="WeightDecay">AdamW's decoupled weight decay.</param>
/// <param name="GradClip">Maximum global gradient norm (0: no clipping).</param>
/// <param name="EvalEvery">Steps between validation evaluations (0: only at the end).</param>
/// <param name="EvalBatches">Validation batches per evaluation.</param>
public sealed record LmTrainOptions(int Steps = 200, int BatchSize = 8, float LearningRate = 1e-3f, int WarmupSteps = 20,
    float MinLearningRate = 1e-4f, float WeightDecay = 0.1f, float GradClip = 1f, int EvalEvery = 50, int EvalBatches = 4);

/// <summary>One logged step of training.</summary>
public sealed record LmStep(int Step, float LearningRate, float TrainLoss, float? ValLoss, float GradNorm, double TokensPerSecond);

/// <summary>
/// Trains a <see cref="Gpt"/> on next-token prediction: consecutive windows of a token stream, AdamW with
/// linear warm-up and cosine decay, gradient clipping and periodic validation. The state needed to resume
/// exactly is the model, the optimizer, the step and the data position (the data order is deterministic).
/// </summary>
public sealed class LmTrainer : IDisposable
{
    readonly Gpt _model;
    readonly LmTrainOptions _options;
    readonly LrSchedule _schedule;
    readonly int[] _validation;

    /// <summary>Prepares a run over <paramref name="train"/> tokens, validating on <paramref name="validation"/>.</summary>
    public LmTrainer(Gpt model, int[] train, int[] validation, LmTrainOptions options)
    {
        _model = model;
        _options = options;
        if (options.Steps <= 0) throw new ArgumentException($"train: steps must be positive, got {options.Steps}");
        Data = new TokenBatches(train, options.BatchSize, model.Config.ContextLength);
        _validation = validation;
        Optimizer = new AdamW(model.Parameters.Values, options.LearningRate, weightDecay: options.WeightDecay);
        _schedule = LrSchedule.Cosine(options.LearningRate, options.WarmupSteps, options.Steps, options.MinLearningRate);
    }

    /// <summary>The training data, with its position.</summary>
    public TokenBatches Data { get; }

    /// <summary>The optimizer, with its state.</summary>
    public AdamW Optimizer { get; }

    /// <summary>Steps completed (the next step to run).</summary>
    public int Step { get; set; }

    /// <summary>Every step logged so far in this process.</summary>
    public List<LmStep> History { get; } = [];

    /// <summary>
    /// Runs until <paramref name="untilStep"/> (default: the configured total), calling <paramref name="onStep"/> after each step: the
    /// trainer prints nothing, and a caller that shows progress does it there.
    /// </summary>
    public void Run(int? untilStep = null, Action<LmStep>? onStep = null)
    {
        int end = Math.Min(untilStep ?? _options.Steps, _options.Steps);
        int tokensPerStep = Data.Batch * Data.Time;
        while (Step < end)
        {
            var clock = Stopwatch.StartNew();
            float lr = _schedule.At(Step), loss, norm;
            using (TensorScope.Open())
            {
                Optimizer.LearningRate = lr;
                var (x, y) = Data.Next(_model.Device);
                Optimizer.ZeroGrad();
                var l = Gpt.Loss(_model.Forward(x), y);
                l.Backward();
                loss = l.Value.ToScalar();
                norm = _options.GradClip > 0 ? Optimizer.ClipGradNorm(_options.GradClip) : Optimizer.GradNorm();
                // Stops before the update, so the weights and every checkpoint stay finite.
                if (!float.IsFinite(loss) || !float.IsFinite(norm)) throw new TrainingDivergedException(Step + 1, loss, norm);
                Optimizer.Step();
            }
            Step++;
            double tps = tokensPerStep / clock.Elapsed.TotalSeconds;
            float? val = (_options.EvalEvery > 0 && Step % _options.EvalEvery == 0) || Step == _options.Steps ? Evaluate() : null;
            var record = new LmStep(Step, lr, loss, val, norm, tps);
            History.Add(record);
            onStep?.Invoke(record);
        }
    }

    /// <summary>Mean validation loss over the configured number of batches, from the start of the validation stream.</summary>
    public float Evaluate()
    {
        if (_validation.Length < _model.Config.ContextLength + 1) return float.NaN;
        var batches = new TokenBatches(_validation, _options.BatchSize, _model.Config.ContextLength);
        double total = 0;
        using var _ = GradMode.NoGrad();
        for (int i = 0; i < _options.EvalBatches; i++)
        {
            using var scope = TensorScope.Open();
            var (x, y) = batches.Next(_model.Device);
            total += Gpt.Loss(_model.Forward(x), y).Value.ToScalar();
        }
        return (float)(total / _options.EvalBatches);
    }

    /// <summary>The header of the CSV written by <see cref="AppendCsv"/>.</summary>
    public const string CsvHeader = "step,lr,train_loss,val_loss,grad_norm,tokens_per_s";

    /// <summary>Appends steps to a CSV file (writing the header if the file is new).</summary>
    public static void AppendCsv(string path, IEnumerable<LmStep> steps)
    {
        bool header = !File.Exists(path);
        using var w = new StreamWriter(path, append: true);
        if (header) w.WriteLine(CsvHeader);
        foreach (var s in steps)
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Step},{s.LearningRate:G6},{s.TrainLoss:G7},{(s.ValLoss is { } v ? v.ToString("G7", CultureInfo.InvariantCulture) : "")}," +
                $"{s.GradNorm:G6},{s.TokensPerSecond:F1}"));
    }

    /// <summary>Frees the optimizer state.</summary>
    public void Dispose() => Optimizer.Dispose();
}
