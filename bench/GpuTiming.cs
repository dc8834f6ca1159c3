using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Bench;

/// <summary>
/// `bench -- gpu [--device cuda|ilgpu-cpu] [--small]`: times the ILGPU kernels (GEMM in float32 / tf32 / bf16,
/// fused causal attention forward and forward + backward) and the accelerator's copy and element-wise
/// bandwidth, printing the key=value lines of bench/gpu/peers.py for bench/compare-gpu.sh. It makes its
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
            // ILGPU asks for "cuda" (libcuda.so); some machines have only libcuda.so.1.
            AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
                name == "cuda" && NativeLibrary.TryLoad("libcuda.so.1", out var h) ? h : IntPtr.Zero;
            if (Environment.GetEnvironmentVariable("CUDA_CACHE_PATH") is null)
                Environment.SetEnvironmentVariable("CUDA_CACHE_PATH", Path.Combine(Path.GetTempPath(), "engine-cuda-cache"));
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
                foreach (var (name, precision) in new[] { ("fp32", GemmPrecision.Float32), ("tf32", GemmPrecision.Tf32), ("bf16", GemmPrecision.Bf16) })
                {
                    if (precision != GemmPrecision.Float32 && !gemm.SupportsTensorCores) continue;
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
        return 0;
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

    /// <summary>Median seconds per call over <paramref name="reps"/> timed loops of <paramref name="iters"/> calls, each closed by a synchronise.</summary>
    static double Time(Accelerator accelerator, Action run, int iters, int reps)
    {
        run();
        accelerator.Synchronize();
        var samples = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < iters; i++) run();
            accelerator.Synchronize();
            samples[r] = sw.Elapsed.TotalSeconds / iters;
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }
}
