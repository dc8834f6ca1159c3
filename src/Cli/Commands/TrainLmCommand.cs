using System.CommandLine;
using System.Globalization;
using Engine.Cli.Reporting;
using Engine.Model.Checkpoints;
using Engine.Model.Training;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine train-lm --text FILE …</c>: <see cref="LmRun"/> from the command line, with its lines on standard output, a progress bar
/// on standard error and loss.svg drawn from the run's loss.csv.
/// </summary>
static class TrainLmCommand
{
    const string LossPlot = "loss.svg";

    static readonly Option<string?> Text = CliOptions.Path("text", "the training text (UTF-8); a tenth at its end validates", "FILE",
        required: true);
    static readonly Option<string?> ConfigName = CliOptions.Text("config", "the model: tiny, small or gpt2 (default tiny)", "NAME");
    static readonly Option<int?> Steps = CliOptions.Integer("steps", "optimizer steps in all (default 200)");
    static readonly Option<int?> Batch = CliOptions.Integer("batch", "rows of one context each per step (default 32 for tiny, 8 otherwise)", "B");
    static readonly Option<float?> LearningRate = CliOptions.Number("lr", "the peak learning rate (default 0.001)", "LR");
    static readonly Option<int?> Seed = CliOptions.Integer("seed", "the initialisation seed (default 1)", "S");
    static readonly Option<string> Out = CliOptions.Path("out", "the run directory", "DIR", "runs/lm");
    static readonly Option<string> DeviceName = CliOptions.Device();
    static readonly Option<int?> EvalEvery = CliOptions.Integer("eval-every", "steps between validations (default a tenth of --steps)");
    static readonly Option<int?> CheckpointEvery = CliOptions.Integer("checkpoint-every",
        "steps between checkpoint sets (default a quarter of --steps)");
    static readonly Option<int> Keep = CliOptions.Integer("keep-checkpoints", "checkpoint sets to keep", 3);
    static readonly Option<bool> Resume = CliOptions.Flag("resume", "continue from the newest complete checkpoint set (only --steps may change)");
    static readonly Option<bool> Force = CliOptions.Flag("force", "replace the run already in --out");

    public static Command Build()
    {
        var command = new Command("train-lm", "train a character-level GPT on a text file, with checkpoints that resume exactly")
        {
            Text, ConfigName, Steps, Batch, LearningRate, Seed, Out, DeviceName, EvalEvery, CheckpointEvery, Keep, Resume, Force,
        };
        // --resume with --force, like every other setting, is checked by LmRun before it touches a file.
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult args)
    {
        var options = new LmRunOptions(args.GetValue(Text)!, args.GetValue(Out)!, args.GetValue(ConfigName), args.GetValue(Steps),
            args.GetValue(Batch), args.GetValue(LearningRate), args.GetValue(Seed), args.GetValue(EvalEvery), args.GetValue(CheckpointEvery),
            args.GetValue(Keep), args.GetValue(Resume), args.GetValue(Force), Device.Parse(args.GetValue(DeviceName)!));
        ProgressBar? progress = null;
        float? lastValidation = null;
        bool plotCurrent = false;
        LmRunResult result;
        try
        {
            result = LmRun.Execute(options, new LmRunCallbacks(
                Started: start =>
                {
                    var (state, c) = (start.State, start.Model);
                    if (start.Resumed) Console.WriteLine($"resuming {start.Directory} at step {state.Step} of {state.Steps}");
                    Console.WriteLine($"gpt {c.Layers} layers, width {c.Width}, {c.Heads} heads, vocab {c.VocabSize}, context {c.ContextLength}: " +
                        $"{start.Parameters:N0} parameters on {start.Device}");
                    Console.WriteLine($"{start.Tokens:N0} tokens ({start.TrainTokens:N0} train), batch {state.Batch}, {state.Steps} steps, " +
                        $"lr {state.LearningRate.ToString(CultureInfo.InvariantCulture)}");
                    progress = new ProgressBar(state.Steps, "train");
                },
                Stepped: step =>
                {
                    var s = step.Step;
                    plotCurrent = step.Checkpointed;
                    if (step.Checkpointed) RunPlots.LmLoss(Path.Combine(step.Directory, LmRun.LossFileName), Path.Combine(step.Directory, LossPlot));
                    lastValidation = s.ValLoss ?? lastValidation;
                    progress!.Report(s.Step, string.Create(CultureInfo.InvariantCulture,
                        $"loss {s.TrainLoss:F4}{(lastValidation is { } v ? $" val {v:F4}" : "")} {s.TokensPerSecond:F0} tok/s"));
                }));
        }
        catch (RunSettingsException e)
        {
            throw new UsageException(e.Message);
        }
        finally
        {
            progress?.Done();
        }
        // The last step saves a checkpoint set, and the plot was drawn with it; a resumed run that had no step left draws it here.
        if (!plotCurrent) RunPlots.LmLoss(Path.Combine(result.Directory, LmRun.LossFileName), Path.Combine(result.Directory, LossPlot));
        if (result.History.Count > 0)
        {
            var last = result.History[^1];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {last.Step}: train loss {last.TrainLoss:F4}, val loss {last.ValLoss ?? float.NaN:F4}, " +
                $"{result.History.Average(h => h.TokensPerSecond):F0} tokens/s"));
        }
        Console.WriteLine(
            $"wrote {result.Directory}/: model/ (config.json, model.safetensors, char-tokenizer.json), checkpoints/, loss.csv, loss.svg");
        return 0;
    }
}
