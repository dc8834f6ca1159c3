using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Model.Checkpoints;
using Engine.Model.Training;
using Engine.Rl.Runs;
using Engine.Rl.Tasks;

namespace Engine.Cli.Commands;

/// <summary><c>engine grpo tree …</c>: the paper's synthetic experiment, GRPO against λ-GRPO.</summary>
static class GrpoCommand
{
    public const string Usage = "engine grpo run --config FILE.json [--out DIR] [--steps N] [--resume] [--force]\n" +
        "       engine grpo tree [--full] [--n 1|2] [--r-neg R] [--seeds S] [--steps N] [--lr LR] [--out DIR] [--device D] [--unpacked]\n" +
        "       engine grpo arith [--quick] [--seeds S] [--steps N] [--sft-steps N] [--lr LR] [--out DIR] [--device D] [--unpacked]";

    public static int Run(Arguments args) => args.Positional switch
    {
        ["tree"] => Tree(args),
        ["arith"] => Arith(args),
        ["run"] => RunConfig(args),
        _ => throw new UsageException("expected: " + Usage),
    };

    /// <summary>
    /// <c>engine grpo run --config FILE.json [--out DIR] [--steps N] [--resume] [--force]</c>: GRPO or λ-GRPO as a config describes it.
    /// </summary>
    static int RunConfig(Arguments args)
    {
        string config = args.String("config") ?? throw new UsageException("grpo run needs --config FILE.json");
        string? outDir = args.String("out");
        int? steps = args.Int("steps");
        bool resume = args.Flag("resume"), force = args.Flag("force");
        args.RejectUnknown();
        if (steps is <= 0) throw new UsageException($"--steps must be positive, got {steps}");
        if (resume && force) throw new UsageException("--resume continues a run and --force replaces it: give one of them");
        GrpoRun.Execute(GrpoRunConfig.Load(config), new GrpoRunOptions(outDir, steps, resume, force));
        return 0;
    }

    static int Arith(Arguments args)
    {
        var settings = args.Flag("quick") ? ArithmeticSettings.Quick : new ArithmeticSettings();
        settings = settings with
        {
            Seeds = args.Int("seeds", settings.Seeds),
            GrpoSteps = args.Int("steps", settings.GrpoSteps),
            SftSteps = args.Int("sft-steps", settings.SftSteps),
            LearningRate = args.Float("lr", settings.LearningRate),
            PackedTree = !args.Flag("unpacked"),
        };
        string outDir = args.String("out", "runs/grpo-arith");
        var device = Device.Parse(args.String("device", "cpu"));
        args.RejectUnknown();
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

        var sft = new Progress(settings.SftSteps, "sft");
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
                var progress = new Progress(settings.GrpoSteps, lambda ? $"λ-GRPO s{seed}" : $"GRPO   s{seed}");
                var run = ArithmeticExperiment.Run(start, lambda, seed, settings, mt => progress.Report(mt.Step, mt.Summary));
                progress.Done();
                runs.Add(run);
                var log = new Engine.Rl.Grpo.GrpoLog(Path.Combine(outDir, $"{(lambda ? "lambda-grpo" : "grpo")}-seed{seed}"),
                    Engine.Rl.Grpo.GrpoStepMetrics.ColumnNames(1));
                foreach (var mt in run.Steps) log.Append(mt);
                log.Plot();
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

    static int Tree(Arguments args)
    {
        bool full = args.Flag("full");
        int n = args.Int("n", 1);
        float rNeg = args.Float("r-neg", -1.0f);
        int seeds = args.Int("seeds", 5);
        int steps = args.Int("steps", TreeExperiment.Steps);
        string outDir = args.String("out", "runs/grpo-tree");
        float lr = args.Float("lr", TreeExperiment.LearningRate);
        bool packedTree = !args.Flag("unpacked");
        var device = Device.Parse(args.String("device", "cpu"));
        args.RejectUnknown();
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
        var progress = new Progress(runs.Count, "runs");
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
