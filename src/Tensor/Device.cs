using Engine.Cpu;
using Engine.Ilgpu;

namespace Engine;

/// <summary>The kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    /// <summary>The SIMD, multi-threaded CPU backend (the default).</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through ILGPU's CUDA accelerator.</summary>
    Cuda,

    /// <summary>ILGPU's CPU accelerator: runs the GPU kernels on the CPU, for testing.</summary>
    IlgpuCpu,
}

/// <summary>A place where tensors live and ops run. Each device has exactly one backend.</summary>
public sealed class Device
{
    static readonly Lazy<Device> s_cpu = new(() => new Device(DeviceKind.Cpu, "cpu", new CpuBackend()));
    static readonly Lazy<Device> s_cuda = new(() => Ilgpu(IlgpuBackend.CreateCuda()));
    static readonly Lazy<Device> s_ilgpuCpu = new(() => Ilgpu(IlgpuBackend.CreateCpu()));
    static readonly Lazy<Device> s_gpuShapedCpu = new(() => Ilgpu(IlgpuBackend.CreateGpuShapedCpu()));

    Device(DeviceKind kind, string name, IBackend backend)
    {
        Kind = kind;
        Name = name;
        Backend = backend;
    }

    /// <summary>The fast CPU backend, used when no device is named.</summary>
    public static Device Cpu => s_cpu.Value;

    /// <summary>The first CUDA GPU, through ILGPU; created on first use, and an error naming the devices found if there is none.</summary>
    public static Device Cuda => s_cuda.Value;

    /// <summary>ILGPU's CPU accelerator, which runs the GPU kernels on the CPU (slowly): for tests.</summary>
    public static Device IlgpuCpu => s_ilgpuCpu.Value;

    /// <summary>
    /// ILGPU's CPU accelerator shaped like an NVIDIA GPU, where the backend runs the same GEMM and fused
    /// attention kernels as on CUDA: for tests, as each thread of a group is an OS thread.
    /// </summary>
    internal static Device GpuShapedCpu => s_gpuShapedCpu.Value;

    /// <summary>Wraps an ILGPU backend, which is disposed when the process exits.</summary>
    static Device Ilgpu(IlgpuBackend backend)
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => backend.Dispose();
        return new Device(backend.Kind, backend.Name, backend);
    }

    /// <summary>The device kind.</summary>
    public DeviceKind Kind { get; }

    /// <summary>The name used on the command line: <c>cpu</c>, <c>cuda</c> or <c>ilgpu-cpu</c>.</summary>
    public string Name { get; }

    internal IBackend Backend { get; }

    /// <summary>
    /// The input precision of every matrix product on this device: <see cref="GemmPrecision.Float32"/> (the
    /// default; the only one on the CPU) or, on GPUs with tensor cores (CUDA compute capability 8.0 or
    /// later), TF32 or BF16 inputs with float32 accumulation. Setting a precision the device cannot run throws.
    /// </summary>
    public GemmPrecision MatmulPrecision
    {
        get => Backend is IlgpuBackend g ? g.MatmulPrecision : GemmPrecision.Float32;
        set
        {
            if (Backend is IlgpuBackend g) g.MatmulPrecision = value;
            else if (value != GemmPrecision.Float32)
                throw new NotSupportedException($"{Name}: {value} products need tensor cores; the CPU backend computes in float32");
        }
    }

    /// <summary>
    /// True when attention over a packed tree costs only the tree's query–key pairs here (<see cref="ITreeAttention"/>: every
    /// backend, the ILGPU one for head sizes up to 64); elsewhere it runs densely under a mask.
    /// </summary>
    public bool HasTreeAttention => Backend is ITreeAttention;

    /// <summary>Bytes of freed memory this device keeps for reuse (the CPU's cache of large blocks, a GPU's buffer pool).</summary>
    public long CachedBytes => Backend switch
    {
        IlgpuBackend g => g.Pool.PooledBytes,
        _ => CpuStorage.CachedBytes,
    };

    /// <summary>Returns the freed memory this device keeps for reuse to the system (or the GPU driver).</summary>
    public void TrimCache()
    {
        if (Backend is IlgpuBackend g) g.TrimPool();
        else CpuStorage.TrimCache();
    }

    /// <summary>Waits until every operation queued on this device has finished: call it before reading a clock.</summary>
    public void Synchronize() => Backend.Synchronize();

    /// <summary>The names <see cref="Parse"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu", "cuda", "ilgpu-cpu"];

    /// <summary>Parses a device name as used by <c>--device</c>.</summary>
    public static Device Parse(string name) => name switch
    {
        "cpu" => Cpu,
        "cuda" => Cuda,
        "ilgpu-cpu" => IlgpuCpu,
        _ => throw new ArgumentException($"device: unknown device '{name}'; expected cpu, cuda or ilgpu-cpu"),
    };

    /// <inheritdoc/>
    public override string ToString() => Name;
}
