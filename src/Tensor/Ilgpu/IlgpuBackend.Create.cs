using Engine.Ilgpu.Kernels;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Ilgpu;

internal sealed partial class IlgpuBackend
{
    static int s_resolverRegistered;

    /// <summary>
    /// ILGPU's CPU accelerator in its default configuration (1 multiprocessor, warps of 4, groups of at most
    /// 16 threads): every thread of a group is an OS thread, so small groups keep tests fast, and a warp size
    /// other than 32 checks that no kernel assumes one. Too narrow for the GEMM and attention kernels, so
    /// products run on <see cref="TiledMatmul"/> and attention is composed.
    /// </summary>
    internal static IlgpuBackend CreateCpu() => CreateCpu(CPUDevice.Default, "ilgpu-cpu");

    /// <summary>
    /// The CPU accelerator shaped like an NVIDIA GPU (warps of 32, groups of up to 1024 threads), so that the
    /// backend dispatches to the same GEMM and flash-attention kernels as on CUDA: for tests.
    /// </summary>
    internal static IlgpuBackend CreateGpuShapedCpu() => CreateCpu(CPUDevice.Nvidia, "ilgpu-cpu-gpu-shaped");

    static IlgpuBackend CreateCpu(CPUDevice device, string name)
    {
        var context = Context.Create(b => b.CPU(device).EnableAlgorithms());
        try
        {
            return new IlgpuBackend(DeviceKind.IlgpuCpu, name, context, context.CreateCPUAccelerator(0));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The first CUDA GPU, or an error listing the devices ILGPU found.</summary>
    internal static IlgpuBackend CreateCuda()
    {
        PrepareCudaDriver();
        var context = Context.Create(b => b.AllAccelerators().EnableAlgorithms());
        try
        {
            var gpus = context.GetCudaDevices();
            if (gpus.Count == 0)
            {
                string found = string.Join(", ", context.Devices.Select(d => $"{d.Name} ({d.AcceleratorType})"));
                throw new InvalidOperationException(
                    $"device: cuda: no CUDA GPU found (ILGPU sees: {(found.Length == 0 ? "no devices" : found)}); " +
                    "check the NVIDIA driver (libcuda.so.1), or use --device ilgpu-cpu to run the same kernels on the CPU");
            }
            return new IlgpuBackend(DeviceKind.Cuda, "cuda", context, gpus[0].CreateAccelerator(context));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What every ILGPU CUDA context in this process needs first (the backend's, and the kernel tests' and
    /// benchmarks' own): the libcuda.so.1 fallback and a writable PTX JIT cache.
    /// </summary>
    internal static void PrepareCudaDriver()
    {
        RegisterLibCudaResolver();
        SetCudaCachePath();
    }

    /// <summary>
    /// ILGPU loads the driver as "cuda", which .NET resolves as libcuda.so; many machines have only
    /// libcuda.so.1, and without this ILGPU silently finds no GPU.
    /// </summary>
    static void RegisterLibCudaResolver()
    {
        if (Interlocked.Exchange(ref s_resolverRegistered, 1) != 0) return;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
            name == "cuda" && NativeLibrary.TryLoad("libcuda.so.1", out var handle) ? handle : IntPtr.Zero;
    }

    /// <summary>Points the driver's PTX JIT cache at a writable folder unless the user chose one.</summary>
    static void SetCudaCachePath()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CUDA_CACHE_PATH"))) return;
        string path = Path.Combine(Path.GetTempPath(), "engine-cuda-cache");
        Directory.CreateDirectory(path);
        Environment.SetEnvironmentVariable("CUDA_CACHE_PATH", path);
        // .NET keeps its own copy of the environment on Unix; the driver reads the process's, through getenv.
        if (OperatingSystem.IsLinux()) _ = NativeMethods.SetEnv("CUDA_CACHE_PATH", path, 0);
    }
}

static partial class NativeMethods
{
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int SetEnv(string name, string value, int overwrite);
}
