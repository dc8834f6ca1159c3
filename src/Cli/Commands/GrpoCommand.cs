using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Cli.Reporting;
using Engine.Model.Checkpoints;
using Engine.Rl.Experiments;
using Engine.Rl.Runs;
using Engine.Rl.Tasks;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine grpo run</c>: <see cref="GrpoRun"/> from the command line, with its lines, a progress bar and the plots drawn from its
/// metrics.csv; <c>engine grpo tree</c> and <c>engine grpo arith</c>: the two demo experiments, GRPO against λ-GRPO.
/// </summary>
static class GrpoCommand
{
    static readonly Option<string?> Config = CliOptions.Text("config", "the run's JSON config (docs: the grpo run config reference)",
        "FILE.json", required: true);
    static readonly Option<string?> RunOut = CliOptions.Text("out", "the run directory (default runs/grpo-<config name>)", "DIR");
    static readonly Option<int?> RunSteps = CliOptions.Integer("steps", "overrides the config's steps (a resumed run may be extended)");
    static readonly Option<bool> Resume = CliOptions.Flag("resume", "continue from the newest complete checkpoint set");
    static readonly Option<bool> Force = CliOptions.Flag("force", "replace the run already in --out");

    static readonly Option<bool> Full = CliOptions.Flag("full", "the paper's whole sweep: n ∈ {1, 2}, r_neg ∈ {−0.5, −1, −1.5}");
    static readonly Option<int> SharedPrefix = CliOptions.Integer("n", "tokens the trap shares with the target: 1, 2 or 3", 1, "1|2|3");
    static readonly Option<float> NegativeReward = CliOptions.Number("r-neg", "the trap's reward", -1.0f, "R");
    static readonly Option<int> TreeSeeds = CliOptions.Integer("seeds", "seeds per method", 5, "S");
    static readonly Option<int> TreeSteps = CliOptions.Integer("steps", "steps per run", TreeExperiment.Steps);
    static readonly Option<float> TreeLearningRate = CliOptions.Number("lr", "AdamW's learning rate", TreeExperiment.LearningRate, "LR");
    static readonly Option<string> TreeOut = CliOptions.Text("out", "where the tables, curves and plots go", "DIR", "runs/grpo-tree");
    static readonly Option<bool> TreeUnpacked = CliOptions.Flag("unpacked", "train on k separate rows instead of the packed trie");
    static readonly Option<string> TreeDevice = CliOptions.Device();

    static readonly Option<bool> Quick = CliOptions.Flag("quick", "the fast variant: 40 steps, 1 seed, 128 held-out problems");
    static readonly Option<int?> ArithSeeds = CliOptions.Integer("seeds", $"seeds per method (default {new ArithmeticSettings().Seeds})", "S");
    static readonly Option<int?> ArithSteps = CliOptions.Integer("steps", $"GRPO steps per run (default {new ArithmeticSettings().GrpoSteps})");
    static readonly Option<int?> SftSteps = CliOptions.Integer("sft-steps",
        $"supervised steps before RL (default {new ArithmeticSettings().SftSteps})");
    static readonly Option<float?> ArithLearningRate = CliOptions.Number("lr",
        $"AdamW's learning rate in RL (default {new ArithmeticSettings().LearningRate.ToString(CultureInfo.InvariantCulture)})", "LR");
    static readonly Option<string> ArithOut = CliOptions.Text("out", "where the tables, curves and plots go", "DIR", "runs/grpo-arith");
    static readonly Option<bool> ArithUnpacked = CliOptions.Flag("unpacked", "train on k separate rows instead of the packed trie");
    static readonly Option<string> ArithDevice = CliOptions.Device();

    public static Command Build()
    {
        var run = new Command("run", "GRPO or λ-GRPO as a config describes it, with checkpoints that resume exactly")
        {
            Config, RunOut, RunSteps, Resume, Force,
        };
        run.Validators.Add(r =>
        {
            if (r.GetValue(Resume) && r.GetValue(Force)) r.AddError("--resume continues a run and --force replaces it: give one of them");
        });
        run.SetAction(RunConfig);
        var tree = new Command("tree", "the paper's synthetic experiment, GRPO against λ-GRPO")
        {
            Full, SharedPrefix, NegativeReward, TreeSeeds, TreeSteps, TreeLearningRate, TreeOut, TreeDevice, TreeUnpacked,
        };
        tree.SetAction(Tree);
        var arith = new Command("arith", "two-digit arithmetic: supervised start, then GRPO against λ-GRPO")
        {
            Quick, ArithSeeds, ArithSteps, SftSteps, ArithLearningRate, ArithOut, ArithDevice, ArithUnpacked,
        };
        arith.SetAction(Arith);
        return new Command("grpo", "GRPO and λ-GRPO: a configured run, or one of the two demo experiments") { run, tree, arith };
    }

    /// <summary>
    /// <c>engine grpo run --config FILE.json [--out DIR] [--steps N] [--resume] [--force]</c>: GRPO or λ-GRPO as a config describes it.
    /// </summary>
    static int RunConfig(ParseResult args)
    {
        string config = args.GetValue(Config)!;
        string? outDir = args.GetValue(RunOut);
        int? steps = args.GetValue(RunSteps);
        bool resume = args.GetValue(Resume), force = args.GetValue(Force);
        if (steps is <= 0) throw new UsageException($"--steps must be positive, got {steps}");
        var runConfig = GrpoRunConfig.Load(config);
        ProgressBar? progress = null;
        var result = GrpoRun.Execute(runConfig, new GrpoRunOptions(outDir, steps, resume, force), new GrpoRunCallbacks(
            Started: start =>
            {
                var c = start.Config;
                if (start.ResumedAt is { } at) Console.WriteLine($"resuming {start.Directory} at step {at} of {c.Steps}");
                Console.WriteLine($"{GrpoRun.Command}: {(c.Lambda ? "λ-GRPO" : "GRPO")} on {start.ModelDirectory} " +
                    $"({start.Parameters:N0} parameters, {start.Device}); {start.Prompts} prompts, {c.PromptsPerStep} per step, " +
                    $"groups of {c.GroupSize}, {c.Steps} steps; rewards: " +
                    $"{string.Join(", ", c.Rewards.Select(r => $"{r.Function.Name} × {r.Weight.ToString(CultureInfo.InvariantCulture)}"))}");
                progress = new ProgressBar(c.Steps, "grpo");
            },
            Stepped: step =>
            {
                var m = step.Metrics;
                if (step.Checkpointed) RunPlots.Grpo(step.Directory);
                progress!.Report(m.Step, string.Create(CultureInfo.InvariantCulture,
                    $"reward {m.RewardMean:F3}{(m.Eval is { } e ? $" eval {e["eval/reward_mean"]:F3}" : "")} |λ| {m.LambdaMean:F2} kl {m.Kl:F4}"));
            }));
        progress?.Done();
        RunPlots.Grpo(result.Directory);
        if (result.Last is { } last)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {last.Step}: reward {last.RewardMean:F4}{(last.Eval is { } e ? $", eval reward {e["eval/reward_mean"]:F4}" : "")}, " +
                $"overhead {result.OverheadSeconds / Math.Max(result.TrainerSeconds, 1e-9):P2} of the trainer's time"));
        Console.WriteLine($"wrote {result.Directory}/: model/, checkpoints/, metrics.jsonl, metrics.csv, reward.svg, kl.svg, tree.svg" +
            $"{(runConfig.Eval is null ? "" : ", eval.svg")}");
        return 0;
    }

    static int Arith(ParseResult args)
    {
        var settings = args.GetValue(Quick) ? ArithmeticSettings.Quick : new ArithmeticSettings();
        settings = settings with
        {
            Seeds = args.GetValue(ArithSeeds) ?? settings.Seeds,
            GrpoSteps = args.GetValue(ArithSteps) ?? settings.GrpoSteps,
            SftSteps = args.GetValue(SftSteps) ?? settings.SftSteps,
            LearningRate = args.GetValue(ArithLearningRate) ?? settings.LearningRate,
            PackedTree = !args.GetValue(ArithUnpacked),
        };
        string outDir = args.GetValue(ArithOut)!;
        var device = Device.Parse(args.GetValue(ArithDevice)!);
        if (settings.Seeds < 1 || settings.GrpoSteps < 1 || settings.SftSteps < 0)
            throw new UsageException("--seeds and --steps must be ≥ 1 and --sft-steps ≥ 0");
        if (settings.Seeds > 1000 || settings.GrpoSteps > 1_000_000 || settings.SftSteps > 1_000_000)
            throw new UsageException("--seeds must be at most 1000, and --steps and --sft-steps at most 1000000");
        if (!(settings.LearningRate > 0)) throw new UsageException($"--lr must be positive, got {settings.LearningRate}");
        OutputDirectory.Prepare("grpo arith", outDir);
        var clock = Stopwatch.StartNew();
        var m = ArithmeticExperiment.Model;
        Console.WriteLine("grpo arith: two-digit addition and subtraction, e.g. ^47-19= → +028;  " +
            $"policy: GPT {m.Layers} layers, width {m.Width}, {m.Heads} heads, on {device}");

        var sft = new ProgressBar(settings.SftSteps, "sft");
        using var start = ArithmeticExperiment.Pretrain(settings.SftSteps,
            (s, loss) => sft.Report(s, string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4}")), device);
        sft.Done();
        double startAccuracy = ArithmeticExperiment.Accuracy(start, settings.EvalProblems);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"supervised start: held-out accuracy {startAccuracy:P1} after {settings.SftSteps} steps; " +
            $"GRPO and λ-GRPO: group 8, 8 prompts per step, lr {settings.LearningRate}, token-mean, μ = 1, β = 0"));

        var runs = new List<ArithmeticRun>();
        foreach (bool lambda in new[] { false, true })
            for (int seed = 0; seed < settings.Seeds; seed++)
            {
                var progress = new ProgressBar(settings.GrpoSteps, lambda ? $"λ-GRPO s{seed}" : $"GRPO   s{seed}");
                var run = ArithmeticExperiment.Run(start, lambda, seed, settings, mt => progress.Report(mt.Step, mt.Summary));
                progress.Done();
                runs.Add(run);
                string logDir = Path.Combine(outDir, $"{(lambda ? "lambda-grpo" : "grpo")}-seed{seed}");
                var log = new Engine.Rl.Grpo.GrpoLog(logDir, Engine.Rl.Grpo.GrpoStepMetrics.ColumnNames(1));
                foreach (var mt in run.Steps) log.Append(mt);
                RunPlots.Grpo(logDir);
            }

        Console.WriteLine();
        Console.WriteLine("| method | peak held-out accuracy | steps to peak | final accuracy |");
        Console.WriteLine("|---|---|---|---|");
        foreach (bool lambda in new[] { false, true })
        {
            var rs = runs.Where(r => r.Lambda == lambda).ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {(lambda ? "λ-GRPO" : "GRPO")} | {rs.Average(r => r.Peak):P1} | {rs.Average(r => r.StepsToPeak):F0} | " +
                $"{rs.Average(r => r.Accuracy[^1].Accuracy):P1} |"));
        }
        var all = runs.SelectMany(r => r.Steps).ToArray();
        double total = all.Sum(s => s.GenerateSeconds + s.ScoreSeconds + s.TrainSeconds);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"time per step: generate {all.Average(s => s.GenerateSeconds) * 1e3:F1} ms, score {all.Average(s => s.ScoreSeconds) * 1e3:F2} ms, " +
            $"train {all.Average(s => s.TrainSeconds) * 1e3:F1} ms; trie + λ-scales {all.Sum(s => s.TrieSeconds) / total:P3} of the step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"trie statistics: mean |λ| {all.Average(s => s.LambdaMean):F2}, path depth {all.Average(s => s.PathDepth):F2}, " +
            $"intermediate proportion {all.Average(s => s.IntermediateProportion):F3}; " +
            $"{(settings.PackedTree ? $"packed groups: {all.Average(s => s.PackedShare):P0} of the unpacked inputs" : "unpacked")}"));

        IReadOnlyList<(double, double)> Curve(bool lambda)
        {
            var rs = runs.Where(r => r.Lambda == lambda).ToArray();
            return rs[0].Accuracy.Select((a, i) => ((double)a.Step, rs.Average(r => r.Accuracy[i].Accuracy))).ToList();
        }
        SvgPlot.Write(Path.Combine(outDir, "accuracy.svg"), $"held-out accuracy (mean of {settings.Seeds} seeds)", "GRPO step", "accuracy",
            [("GRPO", Curve(false)), ("λ-GRPO", Curve(true))]);
        var csv = new StringBuilder("method,seed,step,accuracy\n");
        foreach (var r in runs)
            foreach (var (step, acc) in r.Accuracy)
                csv.Append(CultureInfo.InvariantCulture, $"{(r.Lambda ? "lambda-grpo" : "grpo")},{r.Seed},{step},{acc}\n");
        AtomicFile.WriteText(Path.Combine(outDir, "accuracy.csv"), csv.ToString());
        Console.WriteLine($"{runs.Count} runs in {clock.Elapsed.TotalSeconds:F0} s; curves, metrics and plots in {outDir}/");
        return 0;
    }

    static int Tree(ParseResult args)
    {
        bool full = args.GetValue(Full);
        int n = args.GetValue(SharedPrefix);
        float rNeg = args.GetValue(NegativeReward);
        int seeds = args.GetValue(TreeSeeds);
        int steps = args.GetValue(TreeSteps);
        string outDir = args.GetValue(TreeOut)!;
        float lr = args.GetValue(TreeLearningRate);
        bool packedTree = !args.GetValue(TreeUnpacked);
        var device = Device.Parse(args.GetValue(TreeDevice)!);
        if (seeds < 1 || steps <= TreeExperiment.Window) throw new UsageException($"--seeds must be ≥ 1 and --steps > {TreeExperiment.Window}");
        if (seeds > 1000 || steps > 1_000_000)
            throw new UsageException($"--seeds must be at most 1000 and --steps at most 1000000, got {seeds} and {steps}");
        if (n is < 1 or > 3) throw new UsageException($"--n must be 1, 2 or 3 (the tokens the trap shares with the target), got {n}");
        if (!(lr > 0)) throw new UsageException($"--lr must be positive, got {lr}");
        OutputDirectory.Prepare("grpo tree", outDir);

        var runs = full
            ? TreeExperiment.Sweep(seeds).ToList()
            : [.. from lambda in new[] { false, true } from seed in Enumerable.Range(0, seeds) select new TreeRun(n, rNeg, lambda, seed)];
        Console.WriteLine($"grpo tree: target {TreeTask.Format(new TreeTask(1, -1).Target)}, group 16, {steps} steps, {runs.Count} runs " +
            $"({(full ? "n ∈ {1, 2}, r_neg ∈ {−0.5, −1, −1.5}" : $"n = {n}, r_neg = {rNeg}")}, {seeds} seeds, GRPO and λ-GRPO)");
        var m = TreeExperiment.Model;
        Console.WriteLine($"policy: GPT, {m.Layers} layers, width {m.Width}, {m.Heads} heads, on {device}; " +
            $"AdamW lr {lr}, token-mean, μ = 1, β = 0, temperature 1");

        var results = new TreeRunResult[runs.Count];
        var progress = new ProgressBar(runs.Count, "runs");
        int done = 0;
        var clock = Stopwatch.StartNew();
        // Each run is tiny and single-threaded; the cores take one run each. A device's stream takes one run at a time.
        int parallel = device.Kind == DeviceKind.Cpu ? Environment.ProcessorCount : 1;
        Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
        {
            results[i] = TreeExperiment.Run(runs[i], steps, lr, device: device, packedTree: packedTree);
            int d = Interlocked.Increment(ref done);
            lock (progress)
                progress.Report(d, $"last: n={runs[i].SharedPrefix} r_neg={runs[i].NegativeReward} {(runs[i].Lambda ? "λ-GRPO" : "GRPO  ")} " +
                    $"seed {runs[i].Seed} → {results[i].FinalFrequency:F3}");
        });
        progress.Done();

        Console.WriteLine();
        Console.WriteLine("target frequency over the last 50 steps, mean over seeds (ours) beside the paper's Table 1:");
        Console.WriteLine();
        Console.WriteLine("| n | r_neg | GRPO | λ-GRPO | paper GRPO | paper λ-GRPO |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var csv = new StringBuilder("n,r_neg,method,seed,step,target_frequency\n");
        foreach (var config in results.GroupBy(r => (r.Run.SharedPrefix, r.Run.NegativeReward))
            .OrderBy(g => g.Key.SharedPrefix).ThenByDescending(g => g.Key.NegativeReward))
        {
            double Mean(bool lambda) => config.Where(r => r.Run.Lambda == lambda).Average(r => r.FinalFrequency);
            // The paper has no number for settings outside its Table 1.
            var paper = TreeExperiment.PaperTable.TryGetValue(config.Key, out var p)
                ? (p.Item1.ToString("F4", CultureInfo.InvariantCulture), p.Item2.ToString("F4", CultureInfo.InvariantCulture)) : ("–", "–");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {config.Key.SharedPrefix} | {config.Key.NegativeReward:0.0} | {Mean(false):F4} | {Mean(true):F4} | " +
                $"{paper.Item1} | {paper.Item2} |"));
            foreach (var r in config)
                for (int s = 0; s < r.TargetFrequency.Length; s++)
                    csv.Append(CultureInfo.InvariantCulture,
                        $"{r.Run.SharedPrefix},{r.Run.NegativeReward},{(r.Run.Lambda ? "lambda-grpo" : "grpo")}," +
                        $"{r.Run.Seed},{s + 1},{r.TargetFrequency[s]}\n");
            IReadOnlyList<(double, double)> Curve(bool lambda)
            {
                var rs = config.Where(r => r.Run.Lambda == lambda).ToArray();
                return Enumerable.Range(0, steps).Select(s => ((double)s + 1, rs.Average(r => r.TargetFrequency[s]))).ToList();
            }
            string name = string.Create(CultureInfo.InvariantCulture,
                $"target_frequency_n{config.Key.SharedPrefix}_rneg{config.Key.NegativeReward:0.0}.svg");
            SvgPlot.Write(Path.Combine(outDir, name), string.Create(CultureInfo.InvariantCulture,
                $"target frequency, n = {config.Key.SharedPrefix}, r_neg = {config.Key.NegativeReward:0.0} (mean of {seeds} seeds)"),
                "step", "frequency of the target", [("GRPO", Curve(false)), ("λ-GRPO", Curve(true))]);
        }
        AtomicFile.WriteText(Path.Combine(outDir, "target_frequency.csv"), csv.ToString());
        Console.WriteLine();
        Console.WriteLine($"{runs.Count} runs in {clock.Elapsed.TotalSeconds:F0} s; curves and per-step frequencies in {outDir}/");
        return 0;
    }
}
