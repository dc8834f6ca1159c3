using System.Collections.Concurrent;
using Engine.Cpu;
using Engine.Ilgpu.Kernels;
using Engine.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

/// <summary>
/// The ILGPU backend: the same kernels, written in C#, run on an NVIDIA GPU (CUDA) or on ILGPU's CPU
/// accelerator. All work goes to the accelerator's default stream in order; the host waits only in
/// <see cref="Read"/> and <see cref="Write"/>. Memory comes from a size-class pool. Every launch is preceded
/// by host-side checks that each view holds the elements the kernel will touch, because an out-of-bounds
/// index on the CPU accelerator aborts the process.
/// </summary>
internal sealed partial class IlgpuBackend : IBackend, IDisposable
{
    readonly Context _context;
    readonly Accelerator _accelerator;

    int _group;

    readonly ConcurrentDictionary<Type, Delegate> _unary = new(), _binary = new();
    readonly Action<KernelConfig, ArrayView<float>, int, float> _fill;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, CopyArgs> _copy;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BroadcastArgs> _where;
    readonly Action<KernelConfig, ArrayView<float>, int, int, ulong, ulong> _random;
    readonly TiledMatmul _matmul;

    /// <summary>The 128×128-tile GEMM (and its tensor-core variants), where the accelerator runs 256-thread groups.</summary>
    readonly GemmKernels? _gemm;

    IlgpuBackend(DeviceKind kind, string name, Context context, Accelerator accelerator)
    {
        Kind = kind;
        Name = name;
        _context = context;
        _accelerator = accelerator;
        Pool = new BufferPool(accelerator, name);
        // On the CPU accelerator every thread of a group is an OS thread and every barrier wakes them all;
        // one-thread groups run the same kernels about a hundred times faster there.
        GroupSize = accelerator.AcceleratorType == AcceleratorType.CPU ? 1 : MaxGroupSize;

        _fill = accelerator.LoadStreamKernel<ArrayView<float>, int, float>(ElementwiseKernels.Fill);
        _copy = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, CopyArgs>(ElementwiseKernels.CopyStrided);
        _where = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            BroadcastArgs>(ElementwiseKernels.Where);
        _random = accelerator.LoadStreamKernel<ArrayView<float>, int, int, ulong, ulong>(ElementwiseKernels.Random);
        _matmul = new TiledMatmul(accelerator);
        _gemm = GemmKernels.CanRunOn(accelerator) ? new GemmKernels(accelerator) : null;
        _attention = AttentionKernels.CanRunOn(accelerator) ? new AttentionKernels(accelerator) : null;
        LoadNeuralNetKernels(accelerator, out _softmax, out _softmaxBackward, out _layerNorm, out _layerNormBackward, out _layerNormParamPartials,
            out _gather, out _scatterAdd, out _crossEntropy, out _crossEntropyBackward, out _biasGelu);
        _adamW = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
            AdamWArgs>(ElementwiseKernels.AdamW);
        LoadReductionKernels(accelerator, out _sumRows, out _maxRows, out _argMaxRows, out _reduceColumns, out _columnPartialSums, out _columnSums);
    }

    /// <inheritdoc/>
    public DeviceKind Kind { get; }

    /// <summary>The device name as given to <c>--device</c>.</summary>
    public string Name { get; }

    /// <summary>ILGPU's name for the accelerator (the GPU's model, or the CPU accelerator).</summary>
    public string AcceleratorName => _accelerator.Name;

    /// <summary>Bytes of device memory held by live storages and the pool.</summary>
    public long AllocatedBytes => Pool.AllocatedBytes;

    internal BufferPool Pool { get; }

    /// <summary>The largest power-of-two group the kernels can use on this accelerator.</summary>
    internal int MaxGroupSize
    {
        get
        {
            int g = 1;
            while (g * 2 <= Math.Min(RowKernels.MaxGroup, _accelerator.MaxNumThreadsPerGroup)) g *= 2;
            return g;
        }
    }

    /// <summary>
    /// Threads per group of every kernel (a power of two; the matrix product uses the largest square group
    /// that fits). Results depend on it only through the order of the row reductions' trees. Tests set it
    /// to run the same kernels with wide groups on the CPU accelerator.
    /// </summary>
    internal int GroupSize
    {
        get => _group;
        set
        {
            if (value < 1 || value > MaxGroupSize || (value & (value - 1)) != 0)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"{Name}: group size must be a power of two in [1, {MaxGroupSize}]");
            _group = value;
        }
    }

    /// <summary>The most groups a grid-stride launch uses: enough to fill the device a few times over.</summary>
    int MaxGroups => GroupsToFill(_group);

    /// <summary>Groups of <paramref name="group"/> threads that fill the device a few times over.</summary>
    int GroupsToFill(int group) =>
        Math.Max(1, _accelerator.NumMultiprocessors * Math.Max(1, _accelerator.MaxNumThreadsPerMultiprocessor / group) * 4);

    /// <summary>Frees the pooled buffers that no tensor uses.</summary>
    public void TrimPool()
    {
        lock (_treeLock) ReleaseTree();
        Pool.Trim();
    }

    /// <summary>Waits for every queued kernel (for timing).</summary>
    public void Synchronize()
    {
        Bind();
        _accelerator.Synchronize();
    }

    /// <summary>Frees the pool, the accelerator and the ILGPU context.</summary>
    public void Dispose()
    {
        lock (_treeLock) ReleaseTree();
        Pool.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    /// <summary>Makes the accelerator current on this thread: a CUDA context is per thread.</summary>
    void Bind()
    {
        if (Accelerator.Current != _accelerator) _accelerator.Bind();
    }

    // ---- launch shapes --------------------------------------------------------------------------

    /// <summary>A grid-stride launch over <paramref name="n"/> items, one per thread.</summary>
    KernelConfig Elements(long n) => new((int)Math.Clamp((n + _group - 1) / _group, 1, MaxGroups), _group);

    /// <summary>A launch of one group per row (grid-stride over rows).</summary>
    KernelConfig Rows(int rows) => new(Math.Clamp(rows, 1, MaxGroups), _group);

    // ---- views and host-side checks -------------------------------------------------------------

    IlgpuStorage StorageOf(Storage s, string op) =>
        s is IlgpuStorage g && ReferenceEquals(g.Backend, this) ? g
        : throw new InvalidOperationException($"{Name}: {op} was given storage of another device ({s.Backend.Kind})");

    /// <summary>
    /// The view of <paramref name="t"/>'s elements [0, <paramref name="need"/>), after checking that its
    /// storage holds them: the kernel that follows indexes no further.
    /// </summary>
    ArrayView<float> View(Tensor t, long need, string op)
    {
        var s = StorageOf(t.Storage, op);
        if (need < 0 || t.Offset < 0 || t.Offset + need > s.Length)
            throw new InvalidOperationException($"{Name}: {op} needs {need} elements from offset {t.Offset} of tensor {t.Shape}, " +
                $"whose storage holds {s.Length}");
        return s.View.SubView(t.Offset, need);
    }

    ArrayView<int> Ints(Tensor t, long need, string op) => View(t, need, op).Cast<int>();

    static void Require(bool ok, string op, string message)
    {
        if (!ok) throw new TensorShapeException(op, message);
    }

    // ---- memory ---------------------------------------------------------------------------------

    /// <inheritdoc/>
    public Storage Allocate(int length)
    {
        var s = AllocateUninitializedCore(length);
        s.View.MemSetToZero(_accelerator.DefaultStream);
        return s;
    }

    /// <inheritdoc/>
    public Storage AllocateUninitialized(int length)
    {
        var s = AllocateUninitializedCore(length);
        // Tests poison fresh memory so that an element a kernel forgets to write shows up as NaN.
        if (CpuStorage.PoisonUninitialized && length > 0) _fill(Elements(length), s.View, length, float.NaN);
        return s;
    }

    IlgpuStorage AllocateUninitializedCore(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Bind();
        return new IlgpuStorage(this, Pool.Rent(length), length);
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<float> src, Storage dst, int offset)
    {
        var s = StorageOf(dst, "write");
        if (offset < 0 || offset + src.Length > s.Length)
            throw new InvalidOperationException($"{Name}: writing {src.Length} elements at {offset} overruns a storage of {s.Length}");
        if (src.Length == 0) return;
        Bind();
        s.View.SubView(offset, src.Length).CopyFromCPU(_accelerator.DefaultStream, src);
        _accelerator.DefaultStream.Synchronize();
    }

    /// <inheritdoc/>
    public void Read(Storage src, int offset, Span<float> dst)
    {
        var s = StorageOf(src, "read");
        if (offset < 0 || offset + dst.Length > s.Length)
            throw new InvalidOperationException($"{Name}: reading {dst.Length} elements at {offset} overruns a storage of {s.Length}");
        if (dst.Length == 0) return;
        Bind();
        s.View.SubView(offset, dst.Length).CopyToCPU(_accelerator.DefaultStream, dst);
        _accelerator.DefaultStream.Synchronize();
    }

    // ---- element-wise ---------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Fill(Tensor y, float value)
    {
        Bind();
        int n = y.Numel;
        _fill(Elements(n), View(y, n, "fill"), n, value);
    }

    /// <inheritdoc/>
    public void CopyStrided(Tensor src, Tensor dst, StridedCopy plan)
    {
        const string op = "copy";
        Require(plan.Shape.Length == plan.SrcStrides.Length && plan.Shape.Length == plan.DstStrides.Length, op, "plan ranks differ");
        // Drop unit dimensions and merge runs that are contiguous in both layouts, so most copies need ≤ 8 dims.
        var shape = new List<int>();
        var ss = new List<int>();
        var ds = new List<int>();
        long count = 1;
        for (int k = 0; k < plan.Shape.Length; k++)
        {
            int n = plan.Shape[k];
            count *= n;
            if (n == 1) continue;
            if (shape.Count > 0 && ss[^1] == plan.SrcStrides[k] * n && ds[^1] == plan.DstStrides[k] * n)
            {
                shape[^1] *= n;
                ss[^1] = plan.SrcStrides[k];
                ds[^1] = plan.DstStrides[k];
                continue;
            }
            shape.Add(n);
            ss.Add(plan.SrcStrides[k]);
            ds.Add(plan.DstStrides[k]);
        }
        if (count == 0) return;
        long srcEnd = Extent(plan.SrcOffset, shape, ss, op), dstEnd = Extent(plan.DstOffset, shape, ds, op);
        Bind();
        var args = new CopyArgs
        {
            Rank = shape.Count, Count = (int)count, Shape = Int8.From([.. shape]), Src = Int8.From([.. ss]), Dst = Int8.From([.. ds]),
            SrcOffset = plan.SrcOffset, DstOffset = plan.DstOffset,
        };
        _copy(Elements(count), View(src, srcEnd, op), View(dst, dstEnd, op), args);
    }

    /// <summary>One past the largest element a strided walk touches; strides must be non-negative.</summary>
    static long Extent(int offset, List<int> shape, List<int> strides, string op)
    {
        long end = offset;
        for (int k = 0; k < shape.Count; k++)
        {
            Require(strides[k] >= 0 && offset >= 0, op, $"negative stride or offset in a device copy ({strides[k]}, {offset})");
            end += (long)(shape[k] - 1) * strides[k];
        }
        return end + 1;
    }

    /// <summary>One past the largest element input <paramref name="input"/> of a broadcast reads.</summary>
    static long Extent(Broadcast plan, int input)
    {
        long end = 0;
        for (int k = 0; k < plan.Shape.Length; k++) end += (long)(plan.Shape[k] - 1) * plan.Strides[input][k];
        return end + 1;
    }

    static BroadcastArgs Args(Broadcast plan) => new()
    {
        Rank = plan.Shape.Length,
        Count = plan.Output.Numel,
        Shape = Int8.From(plan.Shape),
        S0 = Int8.From(plan.Strides[0]),
        S1 = Int8.From(plan.Strides[1]),
        S2 = plan.Strides.Length > 2 ? Int8.From(plan.Strides[2]) : default,
    };

    /// <inheritdoc/>
    public void Unary<TOp>(Tensor x, Tensor y) where TOp : struct, IUnaryOp
    {
        int n = x.Numel;
        Require(y.Numel >= n, TOp.Name, $"output {y.Shape} is smaller than input {x.Shape}");
        Bind();
        var kernel = (Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>)_unary.GetOrAdd(typeof(TOp),
            _ => Compile(TOp.Name, () => _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.Unary<TOp>)));
        kernel(Elements(n), View(x, n, TOp.Name), View(y, n, TOp.Name), n);
    }

    /// <summary>
    /// Compiles an op's kernel on first use, naming the op if ILGPU rejects its Apply. Every built-in op
    /// compiles (the PTX test checks each one); a failed compile can leave ILGPU's context unusable for
    /// later compiles, so the error says so.
    /// </summary>
    Delegate Compile(string op, Func<Delegate> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{Name}: the kernel of op '{op}' does not compile for {_accelerator.Name}: {e.Message}. " +
                "ILGPU may not compile further kernels in this process.", e);
        }
    }

    /// <inheritdoc/>
    public void Binary<TOp>(Tensor a, Tensor b, Tensor y, Broadcast plan) where TOp : struct, IBinaryOp
    {
        int n = plan.Output.Numel;
        Bind();
        var kernel = (Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, BroadcastArgs>)_binary.GetOrAdd(typeof(TOp),
            _ => Compile(TOp.Name, () => _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                BroadcastArgs>(ElementwiseKernels.Binary<TOp>)));
        kernel(Elements(n), View(a, Extent(plan, 0), TOp.Name), View(b, Extent(plan, 1), TOp.Name), View(y, n, TOp.Name), Args(plan));
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y, Broadcast plan)
    {
        const string op = "where";
        int n = plan.Output.Numel;
        Bind();
        _where(Elements(n), View(cond, Extent(plan, 0), op), View(a, Extent(plan, 1), op), View(b, Extent(plan, 2), op), View(y, n, op), Args(plan));
    }

    /// <inheritdoc/>
    public void Random(Tensor y, Distribution distribution, ulong seed, ulong offset)
    {
        int n = y.Numel;
        Bind();
        _random(Elements(n), View(y, n, "random"), n, distribution == Distribution.Normal ? 1 : 0, seed, offset);
    }

    // ---- linear algebra -------------------------------------------------------------------------

    /// <inheritdoc/>
    public void Matmul(Tensor a, Tensor b, Tensor c, MatmulPlan p, bool accumulate)
    {
        const string op = "matmul";
        long needA = (long)(p.Batch - 1) * p.BatchStrideA + (long)p.M * p.K;
        long needB = (long)(p.Batch - 1) * p.BatchStrideB + (long)p.K * p.N;
        long needC = (long)p.Batch * p.M * p.N;
        Require(p.Batch > 0 && p.M > 0 && p.N > 0 && p.BatchStrideA >= 0 && p.BatchStrideB >= 0, op, $"invalid plan {p}");
        Bind();
        var av = View(a, needA, op);
        var bv = View(b, needB, op);
        var cv = View(c, needC, op);
        MatmulCore(av, bv, cv, p, accumulate);
    }

    /// <summary>
    /// The input precision of every product on this device: float32 (the default, exact products) or, on
    /// tensor cores, TF32 or BF16 inputs with float32 accumulation.
    /// </summary>
    public GemmPrecision MatmulPrecision
    {
        get => _precision;
        set
        {
            if (value != GemmPrecision.Float32 && _gemm is not { SupportsTensorCores: true })
                throw new NotSupportedException($"{Name}: {value} products need tensor cores (CUDA compute capability 8.0 or later); " +
                    $"{AcceleratorName} has none");
            _precision = value;
        }
    }

    GemmPrecision _precision = GemmPrecision.Float32;

    /// <summary>The one place a product is dispatched: the large-tile GEMM where it runs, else the portable tiled kernel.</summary>
    void MatmulCore(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatmulPlan p, bool accumulate)
    {
        if (_gemm is not null) _gemm.Matmul(a, b, c, p, accumulate, _precision);
        else _matmul.Run(a, b, c, p, accumulate, _group);
    }
}
