using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// An accelerator with its loaded kernels, shared by every kernel test: creating one costs time, and each
/// kernel is compiled once per accelerator. <see cref="Cpu"/> is ILGPU's CPU accelerator shaped like an
/// NVIDIA GPU (warp of 32, 1024 threads per group); it runs each thread of a group as an OS thread, so tests
/// on it keep shapes at 64 or below. <see cref="Cuda"/> is the first CUDA device, or null without one.
/// </summary>
internal sealed class KernelHost
{
    static readonly Lazy<KernelHost> s_cpu = new(() =>
    {
        var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        return new KernelHost(context.CreateCPUAccelerator(0));
    });

    static readonly Lazy<KernelHost?> s_cuda = new(() =>
    {
        Engine.Ilgpu.IlgpuBackend.PrepareCudaDriver();
        var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            return null;
        }
        return new KernelHost(devices[0].CreateAccelerator(context));
    });

    readonly Lazy<GemmKernels> _gemm;
    readonly Lazy<AttentionKernels> _attention;

    KernelHost(Accelerator accelerator)
    {
        Accelerator = accelerator;
        _gemm = new(() => new GemmKernels(accelerator));
        _attention = new(() => new AttentionKernels(accelerator));
    }

    public static KernelHost Cpu => s_cpu.Value;

    /// <summary>The CUDA host; skips the calling test when there is no CUDA device.</summary>
    public static KernelHost Cuda
    {
        get
        {
            var host = s_cuda.Value;
            Assert.SkipWhen(host is null, "no CUDA device (ILGPU found none)");
            return host!;
        }
    }

    public Accelerator Accelerator { get; }

    public GemmKernels Gemm => _gemm.Value;

    public AttentionKernels Attention => _attention.Value;

    /// <summary>Copies host data into a fresh device buffer.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data)
    {
        var buffer = Accelerator.Allocate1D<float>(Math.Max(data.Length, 1));
        if (data.Length > 0) buffer.View.SubView(0, data.Length).CopyFromCPU(data);
        return buffer;
    }

    /// <summary>Synchronises and copies the first <paramref name="length"/> elements back.</summary>
    public float[] Download(ArrayView1D<float, Stride1D.Dense> view, int length)
    {
        Accelerator.Synchronize();
        var host = new float[length];
        if (length > 0) view.SubView(0, length).CopyToCPU(host);
        return host;
    }
}

/// <summary>Kernel tests share one accelerator and each already runs hundreds of threads: run them one at a time.</summary>
[CollectionDefinition(nameof(IlgpuKernelCollection), DisableParallelization = true)]
public sealed class IlgpuKernelCollection;
