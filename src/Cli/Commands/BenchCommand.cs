using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Simd;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine bench gemm</c>: measured single-precision GEMM throughput; <c>engine bench train</c>: GPT training
/// steps (forward, backward, AdamW) on random tokens; <c>engine bench model</c>: a Hugging Face GPT-2 directory's load,
/// evaluation forward and training step.
/// </summary>
static class BenchCommand
{
    /// <summary>The most timed repetitions a bench takes: the times are kept, and more would only exhaust memory.</summary>
    const int MaxRuns = 1_000_000;

    static readonly Option<int> M = CliOptions.Integer("m", "rows of A and C", 1024, "M");
    static readonly Option<int> N = CliOptions.Integer("n", "columns of B and C", 1024, "N");
    static readonly Option<int> K = CliOptions.Integer("k", "the inner dimension", 1024, "K");
    static readonly Option<bool> TransA = CliOptions.Flag("trans-a", "A is stored [K, M]");
    static readonly Option<bool> TransB = CliOptions.Flag("trans-b", "B is stored [N, K]");
    static readonly Option<int> GemmRuns = CliOptions.Integer("runs", "timed runs", 10, "R");
    static readonly Option<string> Precision = CliOptions.Text("precision", "the inputs' precision: fp32, tf32 or bf16", "P", "fp32");
    static readonly Option<string> TrainConfigName = CliOptions.Text("config", "the model: tiny or small", "NAME", "tiny");
    static readonly Option<int?> TrainSteps = CliOptions.Integer("steps", "timed steps (default 20 for tiny, 8 for small)");
    static readonly Option<int> Warmup = CliOptions.Integer("warmup", "untimed steps first", 3);
    static readonly Option<int?> TrainBatch = CliOptions.Integer("batch", "rows per step (default 32 for tiny, 8 for small)", "B");
    static readonly Option<string?> ModelDir = CliOptions.Path("model", "a Hugging Face GPT-2 directory", "DIR", required: true);
    static readonly Option<int> ModelBatch = CliOptions.Integer("batch", "rows per forward and step", 4, "B");
    static readonly Option<int> ModelTokens = CliOptions.Integer("tokens", "tokens per row", 256, "T");
    static readonly Option<int> ModelRuns = CliOptions.Integer("runs", "timed runs of each", 3, "R");
    static readonly Option<string> GemmDevice = CliOptions.Device(), TrainDevice = CliOptions.Device(), ModelDevice = CliOptions.Device();

    public static Command Build()
    {
        var gemm = new Command("gemm", "single-precision GEMM throughput (the last line is gflops=)")
        {
            M, N, K, TransA, TransB, GemmRuns, GemmDevice, Precision,
        };
        gemm.SetAction(Gemm);
        var train = new Command("train", "GPT training steps on random tokens (the last line is tokens_per_s=)")
        {
            TrainConfigName, TrainSteps, Warmup, TrainBatch, TrainDevice,
        };
        train.SetAction(Train);
        var model = new Command("model", "a GPT-2 directory's load, evaluation forward and training step")
        {
            ModelDir, ModelBatch, ModelTokens, ModelRuns, ModelDevice,
        };
        model.SetAction(TimeModel);
        return new Command("bench", "measure GEMM, training and model throughput") { gemm, train, model };
    }

    static int Gemm(ParseResult args)
    {
        int m = args.GetValue(M), n = args.GetValue(N), k = args.GetValue(K);
        bool transA = args.GetValue(TransA), transB = args.GetValue(TransB);
        int runs = args.GetValue(GemmRuns);
        var device = Device.Parse(args.GetValue(GemmDevice)!);
        var precision = args.GetValue(Precision) switch
        {
            "fp32" => GemmPrecision.Float32,
            "tf32" => GemmPrecision.Tf32,
            "bf16" => GemmPrecision.Bf16,
            var p => throw new UsageException($"--precision must be fp32, tf32 or bf16, not '{p}'"),
        };
        if (m <= 0 || n <= 0 || k <= 0 || runs <= 0) throw new UsageException("--m, --n, --k and --runs must be positive");
        if (runs > MaxRuns) throw new UsageException($"--runs must be at most {MaxRuns}, got {runs}");
        if (Math.Max(Math.Max((long)m * k, (long)k * n), (long)m * n) > int.MaxValue)
            throw new UsageException($"--m {m}, --n {n}, --k {k}: a matrix of more than {int.MaxValue} elements is too large for one tensor");
        HostMemory.Require(((double)m * k + (double)k * n + 2.0 * m * n) * sizeof(float), $"bench gemm {m}x{n}x{k}");

        device.MatmulPrecision = precision;
        using var a = Tensor.Randn(transA ? new Shape(k, m) : new Shape(m, k), seed: 1, device: device);
        using var b = Tensor.Randn(transB ? new Shape(n, k) : new Shape(k, n), seed: 2, device: device);
        double flops = 2.0 * m * n * k;
        string inputs = precision == GemmPrecision.Float32 ? "" : $" ({precision} inputs)";
        Console.WriteLine($"sgemm {m}x{n}x{k}{(transA ? " Aᵀ" : "")}{(transB ? " Bᵀ" : "")}{inputs} on {Describe(device)}");

        // Warm up until the JIT has settled (tiered compilation) and at least half a second has passed.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.ElapsedMilliseconds < 500; i++) Tensor.Matmul(a, b, transA, transB).Dispose();
        device.Synchronize();

        var times = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            using (Tensor.Matmul(a, b, transA, transB)) device.Synchronize();
            times[r] = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"  run {r + 1,2}: {times[r] * 1e3,9:F3} ms  {flops / times[r] / 1e9,8:F1} GFLOP/s");
        }
        Console.WriteLine("gflops=" + (flops / Median(times) / 1e9).ToString("F1", CultureInfo.InvariantCulture));
        return 0;
    }

    /// <summary>The bench configs: the model and the batch the issue's comparisons use.</summary>
    static (GptConfig Config, int Batch) TrainConfig(string name) => name switch
    {
        "tiny" => (GptConfig.Tiny, 32),
        "small" => (GptConfig.Small, 8),
        _ => throw new UsageException($"--config must be tiny or small, not '{name}'"),
    };

    /// <summary>Times GPT training steps on random tokens; the last line is <c>tokens_per_s=</c> the median step.</summary>
    static int Train(ParseResult args)
    {
        string name = args.GetValue(TrainConfigName)!;
        var (config, defaultBatch) = TrainConfig(name);
        int batch = args.GetValue(TrainBatch) ?? defaultBatch, steps = args.GetValue(TrainSteps) ?? (name == "tiny" ? 20 : 8);
        int warmup = args.GetValue(Warmup);
        var device = Device.Parse(args.GetValue(TrainDevice)!);
        if (batch <= 0 || steps <= 0 || warmup < 0) throw new UsageException("--batch and --steps must be positive and --warmup not negative");
        if (steps > MaxRuns || warmup > MaxRuns) throw new UsageException($"--steps and --warmup must be at most {MaxRuns}");

        HostMemory.Require(Gpt.TrainingStepBytes(config, batch, config.ContextLength), $"bench train: {name} with batch {batch}");
        int t = config.ContextLength, tokens = batch * t;
        Console.WriteLine($"train {name}: vocab {config.VocabSize}, width {config.Width}, {config.Layers} layers, {config.Heads} heads, " +
            $"context {t}, batch {batch} on {Describe(device)}");
        using var model = new Gpt(config, seed: 1, device: device);
        using var optimizer = new AdamW(model.Parameters.Values, 1e-4f);
        var random = new System.Random(7);
        using var x = Tensor.FromInts(RandomTokens(random, tokens, config.VocabSize), new Shape(batch, t), device);
        using var y = Tensor.FromInts(RandomTokens(random, tokens, config.VocabSize), new Shape(batch, t), device);
        double Step() => TimedTrainingStep(model, optimizer, x, y, device);
        for (int i = 0; i < warmup; i++) Console.WriteLine($"  warm-up {i + 1}/{warmup}: {Step() * 1e3,9:F1} ms");
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            times[i] = Step();
            Console.WriteLine($"  step {i + 1,3}/{steps}: {times[i] * 1e3,9:F1} ms  {tokens / times[i],10:F0} tokens/s");
        }
        Console.WriteLine("tokens_per_s=" + (tokens / Median(times)).ToString("F0", CultureInfo.InvariantCulture));
        return 0;
    }

    /// <summary>
    /// Loads a Hugging Face GPT-2 directory and times, apart from the load and the first (JIT) calls, an evaluation
    /// forward of B×T tokens (no gradients) and a training step (forward, backward, AdamW) on the same tokens.
    /// </summary>
    static int TimeModel(ParseResult args)
    {
        string dir = args.GetValue(ModelDir)!;
        int batch = args.GetValue(ModelBatch), length = args.GetValue(ModelTokens), runs = args.GetValue(ModelRuns);
        var device = Device.Parse(args.GetValue(ModelDevice)!);
        if (batch <= 0 || length <= 0 || runs <= 0) throw new UsageException("--batch, --tokens and --runs must be positive");
        if (runs > MaxRuns) throw new UsageException($"--runs must be at most {MaxRuns}, got {runs}");

        dir = Gpt2Checkpoint.ResolveDirectory(dir);
        var config = Gpt2Checkpoint.ReadConfig(dir);
        if (length > config.ContextLength) throw new UsageException($"--tokens {length} exceeds the model's context of {config.ContextLength}");
        HostMemory.Require(Gpt.TrainingStepBytes(config, batch, length), $"bench model: a training step of {batch}×{length} tokens");
        var sw = Stopwatch.StartNew();
        using var model = Gpt2Checkpoint.Load(dir, device);
        double load = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"model {dir}: vocab {config.VocabSize}, width {config.Width}, {config.Layers} layers, {config.Heads} heads; " +
            $"{batch}×{length} tokens on {Describe(device)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load_s={load:F3}"));
        var random = new System.Random(7);
        using var x = Tensor.FromInts(RandomTokens(random, batch * length, config.VocabSize), new Shape(batch, length), device);
        using var y = Tensor.FromInts(RandomTokens(random, batch * length, config.VocabSize), new Shape(batch, length), device);
        using var optimizer = new AdamW(model.Parameters.Values, 1e-5f);

        double Forward()
        {
            var watch = Stopwatch.StartNew();
            using (GradMode.NoGrad())
            using (TensorScope.Open())
                Gpt.Loss(model.Forward(x), y).Value.ToScalar();
            return watch.Elapsed.TotalSeconds;
        }
        Report("forward_s", Forward, runs);
        Report("train_step_s", () => TimedTrainingStep(model, optimizer, x, y, device), runs);
        return 0;
    }

    /// <summary>One untimed call (JIT, first-touch allocation), then the median of <paramref name="runs"/> timed ones.</summary>
    static void Report(string name, Func<double> run, int runs)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name} first call: {run():F3} s"));
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            times[i] = run();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name} run {i + 1}/{runs}: {times[i]:F3} s"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}={Median(times):F4}"));
    }

    static int[] RandomTokens(System.Random random, int count, int vocabulary) =>
        Enumerable.Range(0, count).Select(_ => random.Next(vocabulary)).ToArray();

    /// <summary>One forward, backward and AdamW step, in seconds.</summary>
    static double TimedTrainingStep(Gpt model, AdamW optimizer, Tensor x, Tensor y, Device device)
    {
        var watch = Stopwatch.StartNew();
        using (TensorScope.Open())
        {
            optimizer.ZeroGrad();
            Gpt.Loss(model.Forward(x), y).Backward();
            optimizer.Step();
        }
        device.Synchronize();
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>The median of <paramref name="times"/>, which it sorts.</summary>
    static double Median(double[] times)
    {
        Array.Sort(times);
        int n = times.Length;
        return n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    }

    static string Describe(Device device) =>
        device.Kind == DeviceKind.Cpu ? $"{device}, {Environment.ProcessorCount} threads, {VectorWidth.Name}" : device.ToString();
}
