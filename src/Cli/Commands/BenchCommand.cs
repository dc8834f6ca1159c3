using System.Diagnostics;
using System.Globalization;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench gemm --m M --n N --k K</c>: measured single-precision GEMM throughput.</summary>
static class BenchCommand
{
    public const string Usage = "engine bench gemm --m M --n N --k K [--trans-a] [--trans-b] [--runs R] [--device D] [--precision fp32|tf32|bf16]";

    public static int Run(Arguments args)
    {
        if (args.Positional.Count != 1 || args.Positional[0] != "gemm") throw new UsageException("expected: " + Usage);
        int m = args.Int("m", 1024), n = args.Int("n", 1024), k = args.Int("k", 1024);
        bool transA = args.Flag("trans-a"), transB = args.Flag("trans-b");
        int runs = args.Int("runs", 10);
        var device = Device.Parse(args.String("device", "cpu"));
        var precision = args.String("precision", "fp32") switch
        {
            "fp32" => GemmPrecision.Float32,
            "tf32" => GemmPrecision.Tf32,
            "bf16" => GemmPrecision.Bf16,
            var p => throw new UsageException($"--precision must be fp32, tf32 or bf16, not '{p}'"),
        };
        args.RejectUnknown();
        if (m <= 0 || n <= 0 || k <= 0 || runs <= 0) throw new UsageException("--m, --n, --k and --runs must be positive");

        device.MatmulPrecision = precision;
        using var a = Tensor.Randn(transA ? new Shape(k, m) : new Shape(m, k), seed: 1, device: device);
        using var b = Tensor.Randn(transB ? new Shape(n, k) : new Shape(k, n), seed: 2, device: device);
        double flops = 2.0 * m * n * k;
        Console.WriteLine($"sgemm {m}x{n}x{k}{(transA ? " Aᵀ" : "")}{(transB ? " Bᵀ" : "")} {(precision == GemmPrecision.Float32 ? "" : $" ({precision} inputs)")} on {device}, {Environment.ProcessorCount} threads");

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
        Array.Sort(times);
        double median = runs % 2 == 1 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
        Console.WriteLine("gflops=" + (flops / median / 1e9).ToString("F1", CultureInfo.InvariantCulture));
        return 0;
    }
}
