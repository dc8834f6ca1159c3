using System.Diagnostics;
using System.Globalization;

namespace Engine.Bench;

/// <summary>
/// The engine's side of <c>bench/compare-ops.sh</c>: times each element-wise, softmax and layer-norm case
/// of <c>bench/peers/ops.py</c> the same way (output allocated by the op, median of timed runs after at least
/// 40 calls and 0.5 s of warm-up) and prints the same tab-separated rows: <c>op, shape, bytes moved, median ms</c>.
/// Run with <c>dotnet run -c Release --project bench -- ops [--runs N] [--filter name]</c>.
/// </summary>
static class OpsTiming
{
    /// <summary>One timed case: its name, shape, the bytes one call must read plus write, and the call.</summary>
    sealed record Case(string Op, string Shape, long Bytes, Func<Tensor> Run);

    public static int Run(string[] args)
    {
        int runs = 20;
        string? filter = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--filter" && i + 1 < args.Length) filter = args[++i];
            else
            {
                Console.Error.WriteLine($"ops: unknown argument '{args[i]}'; usage: ops [--runs N] [--filter name]");
                return 2;
            }
        }

        const int n = 1 << 24; // 16M floats, 64 MiB per tensor: far beyond any cache
        using var a = Tensor.Rand(new Shape(n), 1);
        using var b = Tensor.Rand(new Shape(n), 2);
        using var m = Tensor.Rand(new Shape(8192, 2048), 3);
        using var row = Tensor.Rand(new Shape(2048), 4);
        using var s1 = Tensor.Randn(new Shape(8192, 768), 5);
        using var s2 = Tensor.Randn(new Shape(512, 3072), 6);
        using var w768 = Tensor.Rand(new Shape(768), 7);
        using var b768 = Tensor.Rand(new Shape(768), 8);
        using var w3072 = Tensor.Rand(new Shape(3072), 9);
        using var b3072 = Tensor.Rand(new Shape(3072), 10);
        const long f = sizeof(float);
        Case[] cases =
        [
            new("add", "16M", 3 * f * n, () => a + b),
            new("mul", "16M", 3 * f * n, () => a * b),
            new("add_row", "8192x2048+2048", 2 * f * m.Numel, () => m + row),
            new("exp", "16M", 2 * f * n, () => a.Exp()),
            new("gelu", "16M", 2 * f * n, () => a.Gelu()),
            new("sum", "16M", f * n, () => a.Sum()),
            new("softmax", "8192x768", 2 * f * s1.Numel, () => s1.Softmax()),
            new("softmax", "512x3072", 2 * f * s2.Numel, () => s2.Softmax()),
            new("layernorm", "8192x768", 2 * f * s1.Numel, () => s1.LayerNorm(w768, b768)),
            new("layernorm", "512x3072", 2 * f * s2.Numel, () => s2.LayerNorm(w3072, b3072)),
        ];

        foreach (var c in cases)
        {
            if (filter is not null && !c.Op.Contains(filter, StringComparison.Ordinal)) continue;
            // Warm up past tiered JIT: methods are re-jitted with PGO after 30 calls and a 100 ms delay.
            long warm = Stopwatch.GetTimestamp();
            for (int w = 0; w < 40 || Stopwatch.GetElapsedTime(warm).TotalMilliseconds < 500; w++) c.Run().Dispose();
            var times = new double[runs];
            for (int r = 0; r < runs; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                var y = c.Run();
                times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                y.Dispose();
            }
            Array.Sort(times);
            double median = runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{c.Op}\t{c.Shape}\t{c.Bytes}\t{median:F3}"));
        }
        return 0;
    }
}
