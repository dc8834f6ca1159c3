using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// One ILGPU context with a CPU accelerator shaped like an NVIDIA GPU (warp of 32, 1024 threads per group),
/// shared by every kernel test: creating one costs time, and each kernel is compiled once per accelerator.
/// The CPU accelerator runs each thread of a group as an OS thread, so tests keep shapes at 64 or below.
/// </summary>
public static class IlgpuCpuFixture
{
    static readonly Lazy<(Context Context, Accelerator Accelerator)> s_cpu = new(() =>
    {
        var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        return (context, context.CreateCPUAccelerator(0));
    });

    public static Accelerator Accelerator => s_cpu.Value.Accelerator;

    static readonly Lazy<Engine.Ilgpu.Kernels.GemmKernels> s_gemm = new(() => new(Accelerator));

    static readonly Lazy<Engine.Ilgpu.Kernels.AttentionKernels> s_attention = new(() => new(Accelerator));

    public static Engine.Ilgpu.Kernels.GemmKernels Gemm => s_gemm.Value;

    public static Engine.Ilgpu.Kernels.AttentionKernels Attention => s_attention.Value;

    /// <summary>Copies host data into a fresh device buffer.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data)
    {
        var buffer = Accelerator.Allocate1D<float>(Math.Max(data.Length, 1));
        if (data.Length > 0) buffer.View.SubView(0, data.Length).CopyFromCPU(data);
        return buffer;
    }

    /// <summary>Synchronises and copies the first <paramref name="length"/> elements back.</summary>
    public static float[] Download(ArrayView1D<float, Stride1D.Dense> view, int length)
    {
        Accelerator.Synchronize();
        var host = new float[length];
        if (length > 0) view.SubView(0, length).CopyToCPU(host);
        return host;
    }
}

/// <summary>Kernel tests share one CPU accelerator and each already runs hundreds of threads: run them one at a time.</summary>
[CollectionDefinition(nameof(IlgpuKernelCollection), DisableParallelization = true)]
public sealed class IlgpuKernelCollection;
