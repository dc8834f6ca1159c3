using System.Diagnostics;
using System.Globalization;
using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Bench;

/// <summary>
/// `bench -- gpu [--device cuda|ilgpu-cpu] [--small]`: times the ILGPU kernels (GEMM in float32 / tf32 / bf16,
/// fused causal attention forward and forward + backward, tree attention against the same tree as a dense mask) and
/// the accelerator's copy and element-wise bandwidth, printing the key=value lines of bench/gpu/peers.py for bench/compare-gpu.sh. Each kernel is
/// checked against a float64 reference on sampled outputs before it is timed (exit code 3 if wrong). It makes its
/// own ILGPU context. On ilgpu-cpu (ILGPU's CPU accelerator) it runs tiny shapes once: a smoke test of the
/// harness, not a measurement.
/// </summary>
static class GpuTiming
{
    public static int Run(string[] args)
    {
        string device = "cuda";
        bool small = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--small") small = true;
            else if (args[i] == "--device" && i + 1 < args.Length) device = args[++i];
            else { Console.Error.WriteLine($"gpu: unknown argument '{args[i]}'; usage: gpu [--device cuda|ilgpu-cpu] [--small]"); return 1; }
        }

        Context context;
        Accelerator accelerator;
        bool cpu = device == "ilgpu-cpu";
        if (cpu)
        {
            context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
            accelerator = context.CreateCPUAccelerator(0);
        }
        else if (device == "cuda")
        {
            Engine.Ilgpu.IlgpuBackend.PrepareCudaDriver();
            context = Context.Create(b => b.Cuda().EnableAlgorithms());
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
            {
                Console.WriteLine("# no CUDA device: ILGPU found none (driver missing or no GPU); nothing measured");
                context.Dispose();
                return 2;
            }
            accelerator = devices[0].CreateAccelerator(context);
        }
        else { Console.Error.WriteLine($"gpu: unknown device '{device}' (cuda or ilgpu-cpu)"); return 1; }

        using (context)
        using (accelerator)
        {
            Console.WriteLine($"# device={accelerator.Name} ({accelerator.AcceleratorType}) small={small}");
            var gemm = new GemmKernels(accelerator);
            var attention = new AttentionKernels(accelerator);
            int reps = cpu ? 1 : 5;

            (int M, int N, int K)[] gemmShapes = cpu ? [(64, 64, 64)] : small ? [(256, 256, 256)]
                : [(4096, 4096, 4096), (512, 768, 768), (512, 3072, 768), (512, 768, 3072)];
            foreach (var (m, n, k) in gemmShapes)
            {
                using var a = Random(accelerator, m * k, 1);
                using var b = Random(accelerator, k * n, 2);
                using var c = accelerator.Allocate1D<float>((long)m * n);
                var plan = new MatmulPlan(1, m, n, k, false, false, 0, 0);
                float[] hostA = Download(accelerator, a), hostB = Download(accelerator, b);
                foreach (var (name, precision) in new[] { ("fp32", GemmPrecision.Float32), ("tf32", GemmPrecision.Tf32),
                    ("bf16", GemmPrecision.Bf16) })
                {
                    if (precision != GemmPrecision.Float32 && !gemm.SupportsTensorCores) continue;
                    gemm.Matmul(a.View, b.View, c.View, plan, false, precision);
                    if (!CheckGemm($"gemm_{name}_{m}x{n}x{k}", hostA, hostB, Download(accelerator, c), m, n, k, precision)) return 3;
                    int iters = cpu ? 1 : (long)m * n * k >= 1L << 30 ? 20 : 200;
                    double sec = Time(accelerator, () => gemm.Matmul(a.View, b.View, c.View, plan, false, precision), iters, reps);
                    Print($"gemm_{name}_{m}x{n}x{k}_tflops", 2.0 * m * n * k / sec / 1e12, "G6");
                }
            }

            long elems = cpu ? 1 << 16 : small ? 1 << 20 : 1 << 28;
            using (var x = Random(accelerator, elems, 3))
            using (var y = accelerator.Allocate1D<float>(elems))
            {
                var scale = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ScaleKernel);
                double copy = Time(accelerator, () => x.View.CopyTo(y.View), cpu ? 1 : 20, reps);
                Print($"copy_{elems}_gbps", 2.0 * 4 * elems / copy / 1e9, "G6");
                double sc = Time(accelerator, () => scale((int)elems, x.View, y.View), cpu ? 1 : 20, reps);
                Print($"scale_{elems}_gbps", 2.0 * 4 * elems / sc / 1e9, "G6");
            }

            (int Bh, int T, int D)[] attentionShapes = cpu || small ? [(2, 64, 32)] : [(48, 256, 64), (48, 1024, 64)];
            foreach (var (bh, t, d) in attentionShapes)
            {
                var shape = new AttentionPlan(bh, t, t, d, d, Causal: true, Scale: 1f / MathF.Sqrt(d));
                long size = (long)bh * t * d;
                using var q = Random(accelerator, size, 4);
                using var k = Random(accelerator, size, 5);
                using var v = Random(accelerator, size, 6);
                using var dO = Random(accelerator, size, 7);
                using var o = accelerator.Allocate1D<float>(size);
                using var lse = accelerator.Allocate1D<float>((long)bh * t);
                using var delta = accelerator.Allocate1D<float>((long)bh * t);
                using var dq = accelerator.Allocate1D<float>(size);
                using var dk = accelerator.Allocate1D<float>(size);
                using var dv = accelerator.Allocate1D<float>(size);
                void Forward() => attention.Forward(q.View, k.View, v.View, null, o.View, lse.View, shape);
                Forward();
                if (!CheckAttention($"attention_bh{bh}_t{t}_d{d}", Download(accelerator, q), Download(accelerator, k),
                    Download(accelerator, v), Download(accelerator, o), shape)) return 3;
                double fwd = Time(accelerator, Forward, cpu ? 1 : 50, reps);
                double both = Time(accelerator, () =>
                {
                    Forward();
                    attention.Backward(q.View, k.View, v.View, null, o.View, lse.View, dO.View, dq.View, dk.View, dv.View, delta.View, shape);
                }, cpu ? 1 : 20, reps);
                Print($"attention_fwd_bh{bh}_t{t}_d{d}_ms", fwd * 1e3, "G6");
                Print($"attention_fwdbwd_bh{bh}_t{t}_d{d}_ms", both * 1e3, "G6");
            }
        }
        return TreeAttentionTiming.Run(cpu ? Device.GpuShapedCpu : Device.Cuda, cpu || small, cpu ? 1 : 5) ? 0 : 3;
    }

    static float[] Download(Accelerator accelerator, MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        accelerator.Synchronize();
        return buffer.GetAsArray1D();
    }

    /// <summary>
    /// Validates before timing: 64 sampled entries of c against float64 dot products. The bound is the input
    /// rounding of the precision (fp32 exact, tf32 2⁻¹¹, bf16 2⁻⁸ per factor) times Σ|a||b|, plus float32
    /// accumulation. Prints the worst error as a comment line; false (and a message) past the bound.
    /// </summary>
    static bool CheckGemm(string what, float[] a, float[] b, float[] c, int m, int n, int k, GemmPrecision precision)
    {
        double unit = precision switch { GemmPrecision.Tf32 => 2 * Math.Pow(2, -11), GemmPrecision.Bf16 => 2 * Math.Pow(2, -8), _ => 0 };
        var r = new System.Random(11);
        double worst = 0;
        for (int s = 0; s < 64; s++)
        {
            int i = r.Next(m), j = r.Next(n);
            double exact = 0, magnitude = 0;
            for (int p = 0; p < k; p++)
            {
                double x = (double)a[(long)i * k + p] * b[(long)p * n + j];
                exact += x;
                magnitude += Math.Abs(x);
            }
            double bound = unit * magnitude + 1e-6 * k * Math.Max(1, magnitude / k) + 1e-5;
            worst = Math.Max(worst, Math.Abs(c[(long)i * n + j] - exact) / bound);
        }
        Console.WriteLine($"# check {what}: worst error / bound = {worst.ToString("G3", CultureInfo.InvariantCulture)}");
        if (worst <= 1) return true;
        Console.Error.WriteLine($"gpu: {what} is wrong (error {worst:G3}× its bound); not timing it");
        return false;
    }

    /// <summary>Validates 16 sampled rows of the causal attention output against a float64 softmax.</summary>
    static bool CheckAttention(string what, float[] q, float[] k, float[] v, float[] o, AttentionPlan p)
    {
        var r = new System.Random(12);
        double worst = 0;
        for (int s = 0; s < 16; s++)
        {
            int bh = r.Next(p.BatchHeads), i = r.Next(p.T);
            int keys = i + p.S - p.T + 1;
            var scores = new double[keys];
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < keys; j++)
            {
                double dot = 0;
                for (int c = 0; c < p.D; c++) dot += (double)q[((long)bh * p.T + i) * p.D + c] * k[((long)bh * p.S + j) * p.D + c];
                scores[j] = dot * p.Scale;
                max = Math.Max(max, scores[j]);
            }
            for (int j = 0; j < keys; j++) sum += scores[j] = Math.Exp(scores[j] - max);
            for (int c = 0; c < p.Dv; c++)
            {
                double exact = 0;
                for (int j = 0; j < keys; j++) exact += scores[j] / sum * v[((long)bh * p.S + j) * p.Dv + c];
                worst = Math.Max(worst, Math.Abs(o[((long)bh * p.T + i) * p.Dv + c] - exact));
            }
        }
        Console.WriteLine($"# check {what}: worst |error| = {worst.ToString("G3", CultureInfo.InvariantCulture)}");
        if (worst <= 1e-4) return true;
        Console.Error.WriteLine($"gpu: {what} is wrong (|error| {worst:G3} > 1e-4); not timing it");
        return false;
    }

    static void ScaleKernel(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = 2f * x[i];

    static void Print(string key, double value, string format) =>
        Console.WriteLine($"{key}={value.ToString(format, CultureInfo.InvariantCulture)}");

    static MemoryBuffer1D<float, Stride1D.Dense> Random(Accelerator accelerator, long length, int seed)
    {
        var r = new System.Random(seed);
        var host = new float[length];
        for (long i = 0; i < length; i++) host[i] = (float)(r.NextDouble() * 2 - 1);
        var buffer = accelerator.Allocate1D<float>(length);
        buffer.CopyFromCPU(host);
        return buffer;
    }

    /// <summary>Median seconds per call over <paramref name="reps"/> timed loops of <paramref name="iters"/> calls, each closed by a
    /// synchronise.</summary>
    static double Time(Accelerator accelerator, Action run, int iters, int reps) => Time(accelerator.Synchronize, run, iters, reps);

    /// <summary>Seconds per run: the median over <paramref name="reps"/> timings of <paramref name="iters"/> runs, after one warm-up.</summary>
    internal static double Time(Action synchronize, Action run, int iters, int reps)
    {
        run();
        synchronize();
        var samples = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < iters; i++) run();
            synchronize();
            samples[r] = sw.Elapsed.TotalSeconds / iters;
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }
}
