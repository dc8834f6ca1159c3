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
/// metrics.csv; <c>engine grpo tree</c>, <c>engine grpo arith</c> and <c>engine grpo sums</c>: the demo experiments, GRPO against
/// λ-GRPO over seeds, with intervals, paired differences and the tree statistics (<see cref="ExperimentReport"/>).
/// </summary>
static class GrpoCommand
{
    static readonly Option<string?> Config = CliOptions.Path("config", "the run's JSON config (docs: the grpo run config reference)",
        "FILE.json", required: true);
    static readonly Option<string?> RunOut = CliOptions.Path("out", "the run directory (default runs/grpo-<config name>)", "DIR");
    static readonly Option<int?> RunSteps = CliOptions.Integer("steps", "overrides the config's steps (a resumed run may be extended)");
    static readonly Option<bool> Resume = CliOptions.Flag("resume", "continue from the newest complete checkpoint set");
    static readonly Option<bool> Force = CliOptions.Flag("force", "replace the run already in --out");

    static readonly Option<bool> Full = CliOptions.Flag("full", "the paper's whole sweep: n ∈ {1, 2}, r_neg ∈ {−0.5, −1, −1.5}");
    static readonly Option<int> SharedPrefix = CliOptions.Integer("n", "tokens the trap shares with the target: 1, 2 or 3", 1, "1|2|3");
    static readonly Option<float> NegativeReward = CliOptions.Number("r-neg", "the trap's reward", -1.0f, "R");
    static readonly Option<int> TreeSeeds = CliOptions.Integer("seeds", "seeds per method", 10, "S");
    static readonly Option<int> TreeSteps = CliOptions.Integer("steps", "steps per run", TreeExperiment.Steps);
    static readonly Option<float> TreeLearningRate = CliOptions.Number("lr", "AdamW's learning rate", TreeExperiment.LearningRate, "LR");
    static readonly Option<string> TreeOut = CliOptions.Path("out", "where the tables, curves and plots go", "DIR", "runs/grpo-tree");
    static readonly Option<bool> TreeUnpacked = CliOptions.Flag("unpacked", "train on k separate rows instead of the packed trie");
    static readonly Option<string> TreeDevice = CliOptions.Device();
    static readonly Option<float> TreeTemperature = CliOptions.Number("temperature", "the sampling temperature (the authors' code: 0.75)", 1f, "T");
    static readonly Option<bool> Sweep = CliOptions.Flag("sweep",
        "the robustness sweep: the whole --full sweep at every lr ∈ {1e-4, 3e-4, 1e-3} × temperature ∈ {0.75, 1} (sets --lr and --temperature)");
    static readonly Option<bool> LargePolicy = CliOptions.Flag("large-policy", "a policy of 4 blocks of width 128 instead of 2 of width 32");
    static readonly Option<int> UniformStart = CliOptions.Integer("uniform-start",
        "first supervise the policy this many steps on uniformly random L/R paths (0: start from the random init)", 0, "STEPS");
    static readonly Option<bool> TreeQuick = CliOptions.Flag("quick", "a smoke test: 2 seeds, 100 steps (too small to compare the methods)");

    /// <summary>The options of a supervised-then-GRPO experiment, one set per command.</summary>
    sealed record ProblemOptions(Option<bool> Quick, Option<int?> Seeds, Option<int?> Steps, Option<int?> SftSteps, Option<float?> LearningRate,
        Option<string> Out, Option<bool> Unpacked, Option<string> Device)
    {
        public static ProblemOptions For(string name, ArithmeticSettings defaults, ArithmeticSettings quick) => new(
            CliOptions.Flag("quick", $"a smoke test: {quick.GrpoSteps} steps, {quick.Seeds} seeds, {quick.EvalProblems} held-out problems " +
                "(too small to compare the methods)"),
            CliOptions.Integer("seeds", $"seeds per method, each with its own supervised start (default {defaults.Seeds})", "S"),
            CliOptions.Integer("steps", $"GRPO steps per run (default {defaults.GrpoSteps})"),
            CliOptions.Integer("sft-steps", $"supervised steps before RL (default {defaults.SftSteps})"),
            CliOptions.Number("lr",
                $"AdamW's learning rate in RL (default {defaults.LearningRate.ToString("0.######", CultureInfo.InvariantCulture)})", "LR"),
            CliOptions.Path("out", "where the tables, curves and plots go", "DIR", $"runs/grpo-{name}"),
            CliOptions.Flag("unpacked", "train on k separate rows instead of the packed trie"),
            CliOptions.Device());

        public Option[] All => [Quick, Seeds, Steps, SftSteps, LearningRate, Out, Device, Unpacked];
    }

    static Command ProblemCommand(string name, string description, string example, IProblemTask task, ArithmeticSettings defaults,
        ArithmeticSettings quick)
    {
        var options = ProblemOptions.For(name, defaults, quick);
        var command = new Command(name, description);
        foreach (var option in options.All) command.Options.Add(option);
        command.SetAction(args => Problems(args, name, example, task, defaults, quick, options));
        return command;
    }

    public static Command Build()
    {
        var run = new Command("run", "GRPO or λ-GRPO as a config describes it, with checkpoints that resume exactly")
        {
            Config, RunOut, RunSteps, Resume, Force,
        };
        // --resume with --force and --steps are checked by GrpoRunOptions, before the config is read.
        run.SetAction(RunConfig);
        var tree = new Command("tree", "the paper's synthetic experiment, GRPO against λ-GRPO")
        {
            Full, Sweep, TreeQuick, SharedPrefix, NegativeReward, TreeSeeds, TreeSteps, TreeLearningRate, TreeTemperature, LargePolicy,
            UniformStart, TreeOut, TreeDevice, TreeUnpacked,
        };
        tree.SetAction(Tree);
        var arith = ProblemCommand("arith", "two-digit arithmetic: supervised start, then GRPO against λ-GRPO",
            "two-digit addition and subtraction, e.g. ^47-19= → +028;", ArithmeticTask.AsTask, new ArithmeticSettings(), ArithmeticSettings.Quick);
        var sums = ProblemCommand("sums", "running sums, a deep-tree task (21-token completions): supervised start, then GRPO against λ-GRPO",
            "the running sums of eight digits, e.g. ^3+8+5+9+2+7+1+4= → 11,16,25,27,34,35,39;", RunningSumTask.Instance,
            ArithmeticSettings.RunningSums, ArithmeticSettings.RunningSumsQuick);
        return new Command("grpo", "GRPO and λ-GRPO: a configured run, or one of the demo experiments") { run, tree, arith, sums };
    }

    /// <summary>
    /// <c>engine grpo run --config FILE.json [--out DIR] [--steps N] [--resume] [--force]</c>: GRPO or λ-GRPO as a config describes it.
    /// </summary>
    static int RunConfig(ParseResult args)
    {
        var options = new GrpoRunOptions(args.GetValue(RunOut), args.GetValue(RunSteps), args.GetValue(Resume), args.GetValue(Force));
        try
        {
            options.Validate();
        }
        catch (RunSettingsException e)
        {
            throw new UsageException(e.Message);
        }
        var runConfig = GrpoRunConfig.Load(args.GetValue(Config)!);
        ProgressBar? progress = null;
        bool plotsCurrent = false;
        var result = GrpoRun.Execute(runConfig, options, new GrpoRunCallbacks(
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
                plotsCurrent = step.Checkpointed;
                if (step.Checkpointed) RunPlots.Grpo(step.Directory);
                progress!.Report(m.Step, string.Create(CultureInfo.InvariantCulture,
                    $"reward {m.RewardMean:F3}{(m.Eval is { } e ? $" eval {e["eval/reward_mean"]:F3}" : "")} |λ| {m.LambdaMean:F2} kl {m.Kl:F4}"));
            }));
        progress?.Done();
        // The last step saves a checkpoint set, and its plots were drawn with it; a resumed run that had no step left draws them here.
        if (!plotsCurrent) RunPlots.Grpo(result.Directory);
        if (result.Last is { } last)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {last.Step}: reward {last.RewardMean:F4}{(last.Eval is { } e ? $", eval reward {e["eval/reward_mean"]:F4}" : "")}, " +
                $"overhead {result.OverheadSeconds / Math.Max(result.TrainerSeconds, 1e-9):P2} of the trainer's time"));
        Console.WriteLine($"wrote {result.Directory}/: model/, checkpoints/, metrics.jsonl, metrics.csv, reward.svg, kl.svg, tree.svg" +
            $"{(runConfig.Eval is null ? "" : ", eval.svg")}");
        return 0;
    }

    static int Problems(ParseResult args, string name, string example, IProblemTask task, ArithmeticSettings defaults,
        ArithmeticSettings quick, ProblemOptions options)
    {
        bool isQuick = args.GetValue(options.Quick);
        var settings = isQuick ? quick : defaults;
        settings = settings with
        {
            Seeds = args.GetValue(options.Seeds) ?? settings.Seeds,
            GrpoSteps = args.GetValue(options.Steps) ?? settings.GrpoSteps,
            SftSteps = args.GetValue(options.SftSteps) ?? settings.SftSteps,
            LearningRate = args.GetValue(options.LearningRate) ?? settings.LearningRate,
            PackedTree = !args.GetValue(options.Unpacked),
        };
        string outDir = args.GetValue(options.Out)!;
        var device = Device.Parse(args.GetValue(options.Device)!);
        if (settings.Seeds < 1 || settings.GrpoSteps < 1 || settings.SftSteps < 0)
            throw new UsageException("--seeds and --steps must be ≥ 1 and --sft-steps ≥ 0");
        if (settings.Seeds > 1000 || settings.GrpoSteps > 1_000_000 || settings.SftSteps > 1_000_000)
            throw new UsageException("--seeds must be at most 1000, and --steps and --sft-steps at most 1000000");
        if (!(settings.LearningRate > 0)) throw new UsageException($"--lr must be positive, got {settings.LearningRate}");
        OutputDirectory.Prepare($"grpo {name}", outDir);
        var clock = Stopwatch.StartNew();
        var m = ArithmeticExperiment.ModelFor(task);
        var report = new ExperimentReport();
        if (isQuick) Console.Error.WriteLine(QuickWarning);
        report.Line($"grpo {name}: {example}  " +
            $"policy: GPT {m.Layers} layers, width {m.Width}, {m.Heads} heads, on {device}; {Environment.ProcessorCount} cores");
        report.Line(string.Create(CultureInfo.InvariantCulture,
            $"per seed: its own supervised start ({settings.SftSteps} steps), then GRPO and λ-GRPO from it: group 8, 8 prompts per step, " +
            $"{settings.GrpoSteps} steps, lr {settings.LearningRate:0.######}, token-mean, μ = 1, β = 0; greedy held-out accuracy on " +
            $"{settings.EvalProblems} problems every {settings.EvalEvery} steps; {settings.Seeds} seeds"));

        var runs = new List<ArithmeticRun>();
        var starts = new List<double>();
        for (int seed = 0; seed < settings.Seeds; seed++)
        {
            var sft = new ProgressBar(settings.SftSteps, $"sft    s{seed}");
            using var start = ArithmeticExperiment.Pretrain(settings.SftSteps,
                (s, loss) => sft.Report(s, string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4}")), device, seed, task);
            sft.Done();
            starts.Add(ArithmeticExperiment.Accuracy(start, settings.EvalProblems, task));
            foreach (bool lambda in new[] { false, true })
            {
                var progress = new ProgressBar(settings.GrpoSteps, lambda ? $"λ-GRPO s{seed}" : $"GRPO   s{seed}");
                var run = ArithmeticExperiment.Run(start, lambda, seed, settings, mt => progress.Report(mt.Step, mt.Summary), task);
                progress.Done();
                runs.Add(run);
                string logDir = Path.Combine(outDir, $"{(lambda ? "lambda-grpo" : "grpo")}-seed{seed}");
                var log = new Engine.Rl.Grpo.GrpoLog(logDir, Engine.Rl.Grpo.GrpoStepMetrics.ColumnNames(1));
                foreach (var mt in run.Steps) log.Append(mt);
                RunPlots.Grpo(logDir);
            }
        }

        double[] Of(bool lambda, Func<ArithmeticRun, double> f) => runs.Where(r => r.Lambda == lambda).OrderBy(r => r.Seed).Select(f).ToArray();
        report.Line();
        report.Line($"supervised starts: held-out accuracy {SeedStatistics.Mean(starts).Format("P1")} (mean ± 95 % t over seeds: " +
            $"{string.Join(" ", starts.Select(a => a.ToString("P1", CultureInfo.InvariantCulture)))})");
        report.Line();
        report.Line($"| metric | {ExperimentReport.PairedHeader()} |");
        report.Line("|---|---|---|---|---|");
        report.Line($"| peak held-out accuracy | {ExperimentReport.PairedCells(Of(false, r => r.Peak), Of(true, r => r.Peak))} |");
        report.Line($"| final held-out accuracy | {ExperimentReport.PairedCells(Of(false, r => r.Final), Of(true, r => r.Final))} |");
        report.Line("| steps to 90 % of the rise to the peak | " +
            $"{ExperimentReport.PairedCells(Of(false, r => r.StepsTo90), Of(true, r => r.StepsTo90), "F0", higherIsBetter: false)} |");
        report.Line();
        report.Line("(mean ± 95 % t half-width over seeds; Δ is λ-GRPO − GRPO paired by seed, with its 95 % t interval; a method is named when " +
            "the interval excludes 0; \"λ ahead\" counts the seed pairs where λ-GRPO is higher, for steps where it took fewer)");
        var all = runs.SelectMany(r => r.Steps).ToArray();
        double total = all.Sum(s => s.GenerateSeconds + s.ScoreSeconds + s.TrainSeconds);
        report.Line();
        report.Line(string.Create(CultureInfo.InvariantCulture,
            $"time per step: generate {all.Average(s => s.GenerateSeconds) * 1e3:F1} ms, score {all.Average(s => s.ScoreSeconds) * 1e3:F2} ms, " +
            $"train {all.Average(s => s.TrainSeconds) * 1e3:F1} ms; trie + λ-scales {all.Sum(s => s.TrieSeconds) / total:P3} of the step"));
        report.Line(string.Create(CultureInfo.InvariantCulture,
            $"trie statistics: mean |λ| {all.Average(s => s.LambdaMean):F2}, path depth {all.Average(s => s.PathDepth):F2}, " +
            $"intermediate proportion {all.Average(s => s.IntermediateProportion):F3}; " +
            $"{(settings.PackedTree ? $"packed groups: {all.Average(s => s.PackedShare):P0} of the unpacked inputs" : "unpacked")}"));
        report.TreeStatistics(outDir, "", runs.Select(r => (r.Lambda, (IReadOnlyList<Engine.Rl.Grpo.GrpoStepMetrics>)r.Steps)).ToArray());

        var x = runs[0].Accuracy.Select(a => (double)a.Step).ToArray();
        PlotSeries Curve(bool lambda) => SvgPlot.MeanWithInterval(lambda ? "λ-GRPO" : "GRPO", x,
            runs.Where(r => r.Lambda == lambda).Select(r => (IReadOnlyList<double>)r.Accuracy.Select(a => a.Accuracy).ToArray()).ToArray(), 0, 1);
        SvgPlot.Write(Path.Combine(outDir, "accuracy.svg"), "held-out accuracy (greedy)",
            $"GRPO step (line: mean of {settings.Seeds} seeds; band: 95 % t interval)", "accuracy", [Curve(false), Curve(true)]);
        var csv = new StringBuilder("method,seed,step,accuracy\n");
        foreach (var r in runs)
            foreach (var (step, acc) in r.Accuracy)
                csv.Append(CultureInfo.InvariantCulture, $"{(r.Lambda ? "lambda-grpo" : "grpo")},{r.Seed},{step},{acc}\n");
        AtomicFile.WriteText(Path.Combine(outDir, "accuracy.csv"), csv.ToString());
        report.Line($"{runs.Count} runs and {settings.Seeds} supervised starts in {clock.Elapsed.TotalSeconds:F0} s; curves, per-step metrics " +
            $"(<method>-seed<s>/metrics.csv) and plots in {outDir}/");
        if (isQuick) report.Line(QuickWarning);
        report.Save(Path.Combine(outDir, "summary.md"));
        return 0;
    }

    static int Tree(ParseResult args)
    {
        bool quick = args.GetValue(TreeQuick), sweep = args.GetValue(Sweep), full = args.GetValue(Full) || sweep;
        int n = args.GetValue(SharedPrefix);
        float rNeg = args.GetValue(NegativeReward);
        int seeds = args.GetValue(TreeSeeds);
        int steps = args.GetValue(TreeSteps);
        string outDir = args.GetValue(TreeOut)!;
        float lr = args.GetValue(TreeLearningRate), temperature = args.GetValue(TreeTemperature);
        bool packedTree = !args.GetValue(TreeUnpacked), large = args.GetValue(LargePolicy);
        int uniformSteps = args.GetValue(UniformStart);
        var device = Device.Parse(args.GetValue(TreeDevice)!);
        if (uniformSteps is < 0 or > 100_000) throw new UsageException($"--uniform-start must be in [0, 100000] steps, got {uniformSteps}");
        if (quick && sweep) throw new UsageException("--quick and --sweep exclude each other: give one of them");
        // An option that the chosen mode would override is refused rather than silently ignored.
        bool Given(Option option) => args.GetResult(option) is { Implicit: false };
        if (quick && (Given(TreeSeeds) || Given(TreeSteps)))
            throw new UsageException("--quick runs 2 seeds of 100 steps: leave out --seeds and --steps, or --quick");
        if (sweep && (Given(TreeLearningRate) || Given(TreeTemperature)))
            throw new UsageException("--sweep runs every lr and temperature of its grid: leave out --lr and --temperature, or --sweep");
        if (full && (Given(SharedPrefix) || Given(NegativeReward)))
            throw new UsageException($"{(sweep ? "--sweep" : "--full")} runs every n and r_neg of the paper: leave out --n and --r-neg");
        if (quick) (seeds, steps) = (2, 100);
        if (seeds < 1 || steps <= TreeExperiment.Window) throw new UsageException($"--seeds must be ≥ 1 and --steps > {TreeExperiment.Window}");
        if (seeds > 1000 || steps > 1_000_000)
            throw new UsageException($"--seeds must be at most 1000 and --steps at most 1000000, got {seeds} and {steps}");
        if (n is < 1 or > 3) throw new UsageException($"--n must be 1, 2 or 3 (the tokens the trap shares with the target), got {n}");
        if (!(lr > 0)) throw new UsageException($"--lr must be positive, got {lr}");
        if (!(temperature >= 0.05f)) throw new UsageException($"--temperature must be at least 0.05, got {temperature}");
        OutputDirectory.Prepare("grpo tree", outDir);

        (float Lr, float Temperature)[] cells = sweep
            ? [.. from l in TreeSweepRates from t in new[] { TreeExperiment.PaperTemperature, 1f } select (l, t)]
            : [(lr, temperature)];
        var configs = full
            ? TreeExperiment.Sweep(seeds).ToList()
            : [.. from lambda in new[] { false, true } from seed in Enumerable.Range(0, seeds) select new TreeRun(n, rNeg, lambda, seed)];
        var runs = (from cell in cells from run in configs select (cell.Lr, cell.Temperature, Run: run)).ToArray();
        var report = new ExperimentReport();
        if (quick) Console.Error.WriteLine(QuickWarning);
        report.Line($"grpo tree: target {TreeTask.Format(new TreeTask(1, -1).Target)}, group 16, {steps} steps, {runs.Length} runs " +
            $"({(full ? "n ∈ {1, 2}, r_neg ∈ {−0.5, −1, −1.5}" : $"n = {n}, r_neg = {rNeg}")}, {seeds} seeds, GRPO and λ-GRPO" +
            $"{(sweep ? ", lr ∈ {1e-4, 3e-4, 1e-3} × temperature ∈ {0.75, 1}" : "")})");
        var m = large ? TreeExperiment.LargeModel : TreeExperiment.Model;
        string startText = uniformSteps > 0 ? $", supervised {uniformSteps} steps on uniform L/R paths first" : "";
        report.Line(string.Create(CultureInfo.InvariantCulture,
            $"policy: GPT, {m.Layers} layers, width {m.Width}, {m.Heads} heads{startText}, on {device}; " +
            $"AdamW{(sweep ? "" : $" lr {lr}")}, token-mean, μ = 1, β = 0{(sweep ? "" : $", temperature {temperature}")}; " +
            $"{Environment.ProcessorCount} cores ({System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture})"));

        var results = new TreeRunResult[runs.Length];
        var progress = new ProgressBar(runs.Length, "runs");
        int done = 0;
        var clock = Stopwatch.StartNew();
        // Each run is tiny and single-threaded; the cores take one run each. A device's stream takes one run at a time.
        int parallel = device.Kind == DeviceKind.Cpu ? Environment.ProcessorCount : 1;
        Parallel.For(0, runs.Length, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
        {
            var (cellLr, cellTemperature, run) = runs[i];
            using var start = large || uniformSteps > 0 ? TreeExperiment.Policy(run.Seed, large, uniformSteps, device) : null;
            results[i] = TreeExperiment.Run(run, steps, cellLr, device: device, packedTree: packedTree, temperature: cellTemperature, start: start);
            int d = Interlocked.Increment(ref done);
            lock (progress)
                progress.Report(d, string.Create(CultureInfo.InvariantCulture,
                    $"last: lr={cellLr} T={cellTemperature} n={run.SharedPrefix} r_neg={run.NegativeReward} " +
                    $"{(run.Lambda ? "λ-GRPO" : "GRPO  ")} seed {run.Seed} → {results[i].FinalFrequency:F3}"));
        });
        progress.Done();

        var csv = new StringBuilder("lr,temperature,n,r_neg,method,seed,step,target_frequency,reward_mean,entropy,path_depth," +
            "intermediate_proportion,lambda_mean\n");
        var cellSummary = new List<string>();
        for (int c = 0; c < cells.Length; c++)
        {
            var (cellLr, cellTemperature) = cells[c];
            var cellResults = results.Where((_, i) => runs[i].Lr == cellLr && runs[i].Temperature == cellTemperature).ToArray();
            string cellName = string.Create(CultureInfo.InvariantCulture, $"lr {cellLr:0e0}, temperature {cellTemperature}");
            string suffix = sweep ? string.Create(CultureInfo.InvariantCulture, $"_lr{cellLr:0e0}_t{cellTemperature}") : "";
            report.Line();
            report.Line($"{cellName}: target frequency over the last {TreeExperiment.Window} steps (final), peak of the " +
                $"{TreeExperiment.Smoothing}-step moving average, and steps to 90 % of its rise; mean ± 95 % t over {seeds} seeds, " +
                $"paired by seed:");
            report.Line();
            report.Line($"| n | r_neg | {ExperimentReport.PairedHeader("final")} | Δ peak [95 % CI] | GRPO steps to 90 % | " +
                "λ-GRPO steps to 90 % | Δ steps [95 % CI] | paper GRPO | paper λ-GRPO |");
            report.Line("|---|---|---|---|---|---|---|---|---|---|---|---|");
            int lambdaAhead = 0, grpoAhead = 0, configCount = 0;
            foreach (var config in cellResults.GroupBy(r => (r.Run.SharedPrefix, r.Run.NegativeReward))
                .OrderBy(g => g.Key.SharedPrefix).ThenByDescending(g => g.Key.NegativeReward))
            {
                double[] Of(bool lambda, Func<TreeRunResult, double> f) => config.Where(r => r.Run.Lambda == lambda).OrderBy(r => r.Run.Seed)
                    .Select(f).ToArray();
                var final = SeedStatistics.PairedDifference(Of(true, r => r.FinalFrequency), Of(false, r => r.FinalFrequency));
                configCount++;
                if (final.AboveZero) lambdaAhead++;
                if (final.BelowZero) grpoAhead++;
                var peak = SeedStatistics.PairedDifference(Of(true, r => r.Peak), Of(false, r => r.Peak));
                var speed = SeedStatistics.PairedDifference(Of(true, r => r.StepsTo90), Of(false, r => r.StepsTo90));
                // The paper has no number for settings outside its Table 1.
                var paper = TreeExperiment.PaperTable.TryGetValue(config.Key, out var p)
                    ? (p.Item1.ToString("F4", CultureInfo.InvariantCulture), p.Item2.ToString("F4", CultureInfo.InvariantCulture)) : ("–", "–");
                report.Line(string.Create(CultureInfo.InvariantCulture,
                    $"| {config.Key.SharedPrefix} | {config.Key.NegativeReward:0.0} | " +
                    $"{ExperimentReport.PairedCells(Of(false, r => r.FinalFrequency), Of(true, r => r.FinalFrequency))} | " +
                    $"{ExperimentReport.Signed(peak.Mean)} [{peak.Low:F3}, {peak.High:F3}] | " +
                    $"{SeedStatistics.Mean(Of(false, r => r.StepsTo90)).Format("F0")} | " +
                    $"{SeedStatistics.Mean(Of(true, r => r.StepsTo90)).Format("F0")} | " +
                    $"{ExperimentReport.Signed(speed.Mean, "F0")} [{speed.Low:F0}, {speed.High:F0}] | " +
                    $"{paper.Item1} | {paper.Item2} |"));
                foreach (var r in config)
                    for (int s = 0; s < r.TargetFrequency.Length; s++)
                    {
                        var mt = r.Steps[s];
                        csv.Append(CultureInfo.InvariantCulture,
                            $"{cellLr},{cellTemperature},{r.Run.SharedPrefix},{r.Run.NegativeReward},{(r.Run.Lambda ? "lambda-grpo" : "grpo")}," +
                            $"{r.Run.Seed},{s + 1},{r.TargetFrequency[s]},{mt.RewardMean},{mt.Entropy},{mt.PathDepth}," +
                            $"{mt.IntermediateProportion},{mt.LambdaMean}\n");
                    }
                var x = Enumerable.Range(1, steps).Select(s => (double)s).ToArray();
                PlotSeries Curve(bool lambda) => SvgPlot.MeanWithInterval(lambda ? "λ-GRPO" : "GRPO", x,
                    config.Where(r => r.Run.Lambda == lambda).Select(r => (IReadOnlyList<double>)r.SmoothedCurve.Select(v => v.Value).ToArray())
                        .ToArray(), 0, 1);
                string name = string.Create(CultureInfo.InvariantCulture,
                    $"target_frequency_n{config.Key.SharedPrefix}_rneg{config.Key.NegativeReward:0.0}{suffix}.svg");
                SvgPlot.Write(Path.Combine(outDir, name), string.Create(CultureInfo.InvariantCulture,
                    $"target frequency, n = {config.Key.SharedPrefix}, r_neg = {config.Key.NegativeReward:0.0}, {cellName}"),
                    $"step (line: mean of {seeds} seeds, {TreeExperiment.Smoothing}-step moving average; band: 95 % t interval)",
                    "frequency of the target", [Curve(false), Curve(true)]);
            }
            double[] Pooled(bool lambda) => cellResults.Where(r => r.Run.Lambda == lambda)
                .OrderBy(r => (r.Run.SharedPrefix, r.Run.NegativeReward, r.Run.Seed)).Select(r => r.FinalFrequency).ToArray();
            var pooled = SeedStatistics.PairedDifference(Pooled(true), Pooled(false));
            cellSummary.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {cellLr:0e0} | {cellTemperature} | {lambdaAhead} | {grpoAhead} | {configCount - lambdaAhead - grpoAhead} | " +
                $"{ExperimentReport.Signed(pooled.Mean)} [{pooled.Low:F3}, {pooled.High:F3}] ({pooled.Count} pairs) |"));
            report.Line();
            report.TreeStatistics(outDir, suffix, cellResults.Select(r => (r.Run.Lambda, r.Steps)).ToArray());
        }
        if (sweep)
        {
            report.Line();
            report.Line("where λ-GRPO wins: configurations whose paired 95 % interval of Δ final lies above 0 (λ-GRPO), below 0 (GRPO), " +
                "or covers 0 (neither); Δ final pooled over every configuration's seed pairs:");
            report.Line();
            report.Line("| lr | temperature | λ-GRPO ahead | GRPO ahead | neither | Δ final pooled [95 % CI] |");
            report.Line("|---|---|---|---|---|---|");
            foreach (var line in cellSummary) report.Line(line);
        }
        AtomicFile.WriteText(Path.Combine(outDir, "steps.csv"), csv.ToString());
        report.Line();
        report.Line($"{runs.Length} runs in {clock.Elapsed.TotalSeconds:F0} s; per-step target frequency, entropy, path depth, " +
            $"intermediate proportion and |λ| in {outDir}/steps.csv, plots beside it");
        if (quick) report.Line(QuickWarning);
        report.Save(Path.Combine(outDir, "summary.md"));
        return 0;
    }

    const string QuickWarning = "warning: --quick is a smoke test, too small (few seeds, few steps) to compare GRPO with λ-GRPO; " +
        "run without --quick for that";

    static readonly float[] TreeSweepRates = [1e-4f, 3e-4f, 1e-3f];
}
