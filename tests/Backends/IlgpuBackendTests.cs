using System.Reflection;
using Engine.Autograd;
using Engine.Ilgpu;
using Engine.Ilgpu.Kernels;
using Engine.Ops;
using Engine.Tests.Support;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Tests.Backends;

/// <summary>What only the ILGPU backend has: device names, the buffer pool, out-of-memory errors, and PTX that compiles without a GPU.</summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class IlgpuBackendTests
{
    static IlgpuBackend Backend => (IlgpuBackend)Device.IlgpuCpu.Backend;

    [Fact]
    public void DevicesParseByName()
    {
        Assert.Same(Device.Cpu, Device.Parse("cpu"));
        Assert.Same(Device.IlgpuCpu, Device.Parse("ilgpu-cpu"));
        Assert.Equal(DeviceKind.IlgpuCpu, Device.IlgpuCpu.Kind);
        Assert.Equal("ilgpu-cpu", Device.IlgpuCpu.ToString());
        var e = Assert.Throws<ArgumentException>(() => Device.Parse("tpu"));
        Assert.Contains("cpu, cuda or ilgpu-cpu", e.Message);
    }

    [Fact]
    public void CudaIsTheFirstGpuOrAnErrorListingTheDevicesFound()
    {
        Device cuda;
        try
        {
            cuda = Device.Parse("cuda");
        }
        catch (InvalidOperationException e)
        {
            Assert.Contains("no CUDA GPU found", e.Message);
            Assert.Contains("ILGPU sees:", e.Message);
            Assert.Contains("CPU", e.Message);
            return;
        }
        Assert.Equal(DeviceKind.Cuda, cuda.Kind);
        Assert.Same(cuda, Device.Cuda);
    }

    [Fact]
    public void FreedBuffersAreReusedBySizeClass()
    {
        var pool = Backend.Pool;
        Device.IlgpuCpu.Synchronize();
        Tensor.Zeros(new Shape(1000), Device.IlgpuCpu).Dispose();
        long before = pool.AllocatedBytes;
        // 1000 and 700 elements share the 1024-element class: the second allocation takes the freed buffer.
        using (var t = Tensor.Zeros(new Shape(700), Device.IlgpuCpu))
        {
            Assert.Equal(before, pool.AllocatedBytes);
            Assert.All(t.ToArray(), v => Assert.Equal(0f, v));
        }
        Assert.Equal(1024, BufferPool.SizeClass(1000));
        Assert.Equal(BufferPool.MinElements, BufferPool.SizeClass(0));
        Backend.TrimPool();
        Assert.Equal(0, pool.PooledBytes);
    }

    [Fact]
    public void ATreeIsUploadedOnceForEveryAttentionOverIt()
    {
        var tree = new TreeMask([-1, 0, 1, 1, 3, 2]);
        using var scope = TensorScope.Open();
        Variable Attend(TreeMask mask)
        {
            int n = mask.Length;
            var x = Variable.Parameter(Tensor.FromArray(Data.Uniform(2 * n * 4, 3), new Shape(1, 2, n, 4), Device.IlgpuCpu));
            return Variable.Attention(x, x, x, AttentionMask.Tree(mask));
        }
        int before = Backend.TreeUploads;
        // Two layers and the backward pass through both: one upload.
        var twice = Attend(tree) + Attend(tree);
        twice.Sum().Backward();
        Assert.Equal(before + 1, Backend.TreeUploads);
        // Another tree replaces it; trimming the pool frees the copy, and the next use uploads again.
        Attend(new TreeMask([-1, 0, 0])).Sum();
        Assert.Equal(before + 2, Backend.TreeUploads);
        Backend.TrimPool();
        Attend(tree).Sum();
        Assert.Equal(before + 3, Backend.TreeUploads);
    }

    [Fact]
    public void AnotherTreeBetweenForwardAndBackwardLeavesTheGradientsRight()
    {
        var first = new TreeMask([-1, 0, 1, 1, 3, 2]);
        var second = new TreeMask([-1, 0, 0, 1]);
        float[] Gradient(Device device, bool another)
        {
            using var scope = TensorScope.Open();
            var x = Variable.Parameter(Tensor.FromArray(Data.Uniform(2 * 6 * 4, 7), new Shape(1, 2, 6, 4), device));
            var y = Variable.Attention(x, x, x, AttentionMask.Tree(first));
            if (another)
            {
                // Replaces the device's copy of the first tree's index arrays before the backward pass needs them.
                var z = new Variable(Tensor.FromArray(Data.Uniform(2 * 4 * 4, 8), new Shape(1, 2, 4, 4), device));
                using (GradMode.NoGrad()) Variable.Attention(z, z, z, AttentionMask.Tree(second));
            }
            y.Sum().Backward();
            return x.Grad!.ToArray();
        }
        int before = Backend.TreeUploads;
        Tolerance.AssertClose(Gradient(Device.IlgpuCpu, another: true), Gradient(Device.Cpu, another: false), 1e-5, 1e-4, "dx");
        Assert.Equal(before + 3, Backend.TreeUploads);
    }

    [Fact]
    public void OutOfMemoryTrimsThePoolRetriesAndThenNamesTheRequest()
    {
        var pool = Backend.Pool;
        Backend.TrimPool();
        long live = pool.AllocatedBytes;
        try
        {
            pool.LimitBytes = live + 8 * 4096;
            // A freed 4096-element buffer stays pooled; a request of another class only fits once it is trimmed.
            Tensor.Zeros(new Shape(4096), Device.IlgpuCpu).Dispose();
            Assert.True(pool.PooledBytes >= 4096 * 4);
            using (var big = Tensor.Zeros(new Shape(8 * 1024 - 100), Device.IlgpuCpu)) Assert.Equal(0, pool.PooledBytes);
            var e = Assert.Throws<OutOfMemoryException>(() => Tensor.Zeros(new Shape(1 << 20), Device.IlgpuCpu));
            Assert.Contains("4,194,304 bytes", e.Message);
            Assert.Contains("ilgpu-cpu", e.Message);
            Assert.Contains("CPUAccelerator", e.Message);
        }
        finally
        {
            pool.LimitBytes = null;
            Backend.TrimPool();
        }
        using var ok = Tensor.Zeros(new Shape(1 << 20), Device.IlgpuCpu);
    }

    [Fact]
    public void CudaOutOfMemoryNamesTheRequestAndTheDeviceKeepsWorking()
    {
        Device cuda;
        try
        {
            cuda = Device.Cuda;
        }
        catch (InvalidOperationException e)
        {
            Assert.Skip($"no CUDA device: {e.Message}");
            return;
        }
        // 1 GiB tensors until the card is full: 512 of them would be more than any card has.
        var held = new List<Tensor>();
        try
        {
            var e = Assert.Throws<OutOfMemoryException>(() =>
            {
                for (int i = 0; i < 512; i++) held.Add(Tensor.Zeros(new Shape(1 << 28), cuda));
            });
            Assert.Contains("cuda: out of device memory allocating 1,073,741,824 bytes", e.Message);
            Assert.True(held.Count > 0, "not even one 1 GiB tensor fitted");
        }
        finally
        {
            foreach (var t in held) t.Dispose();
            cuda.TrimCache();
        }
        using var ones = Tensor.Ones(new Shape(1 << 20), cuda);
        Assert.Equal(1 << 20, ones.Sum().ToScalar());
    }

    [Fact]
    public void StorageOfAnotherDeviceIsRejectedBeforeAnyLaunch()
    {
        using var host = Tensor.FromArray([1f, 2f]);
        var e = Assert.Throws<InvalidOperationException>(() => Backend.Fill(host, 1f));
        Assert.Contains("another device", e.Message);
    }

    [Fact]
    public void ABackendDisposesItsMemoryAndLateFreesAreHarmless()
    {
        var backend = IlgpuBackend.CreateCpu();
        var s = (IlgpuStorage)backend.Allocate(100);
        backend.Write([1f, 2f, 3f], s, 97);
        var back = new float[3];
        backend.Read(s, 97, back);
        Assert.Equal([1f, 2f, 3f], back);
        Assert.True(backend.AllocatedBytes >= 400);
        Assert.Throws<InvalidOperationException>(() => backend.Write([1f, 2f], s, 99));
        backend.Dispose();
        s.Release();
        Assert.True(s.IsFreed);
    }

    [Fact]
    public void OpKernelsAreCompiledOnceAndKeptInAField()
    {
        using var x = Tensor.FromArray([1f, -2f], Device.IlgpuCpu);
        var cache = (System.Collections.Concurrent.ConcurrentDictionary<Type, Delegate>)typeof(IlgpuBackend)
            .GetField("_unary", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(Backend)!;
        using (x.Exp()) { }
        var first = cache[typeof(Exp)];
        using (x.Exp()) { }
        Assert.Same(first, cache[typeof(Exp)]);
    }

    /// <summary>
    /// Which kernels a backend dispatches to depends on the accelerator's group limit: the GPU-shaped CPU
    /// accelerator (like CUDA) takes the flash-attention kernels and tensor-core precisions; the default
    /// 16-thread shape composes attention and refuses tensor-core precision with a clear error.
    /// </summary>
    [Fact]
    public void FusedKernelsAreUsedWhereTheAcceleratorRunsThem()
    {
        var plan = new AttentionPlan(BatchHeads: 2, T: 4, S: 4, D: 8, Dv: 8, Causal: true, Scale: 0.35f);
        var shaped = (IlgpuBackend)Device.GpuShapedCpu.Backend;
        Assert.True(shaped.SupportsAttention(plan));
        Assert.False(shaped.SupportsAttention(plan with { D = AttentionKernels.MaxHead + 1 }));
        Assert.False(Backend.SupportsAttention(plan));
        Assert.Equal(GemmPrecision.Float32, Backend.MatmulPrecision);
        var e = Assert.Throws<NotSupportedException>(() => Backend.MatmulPrecision = GemmPrecision.Tf32);
        Assert.Contains("ilgpu-cpu", e.Message);
        Assert.Equal(GemmPrecision.Float32, Backend.MatmulPrecision);

        // TF32 products on the emulated tensor cores stay within TF32's rounding of the float32 product.
        var a = Data.Uniform(24 * 40, 61);
        var b = Data.Uniform(40 * 16, 62);
        using var ta = Tensor.FromArray(a, new Shape(24, 40), Device.GpuShapedCpu);
        using var tb = Tensor.FromArray(b, new Shape(40, 16), Device.GpuShapedCpu);
        using var exact = Tensor.Matmul(ta, tb);
        shaped.MatmulPrecision = GemmPrecision.Tf32;
        try
        {
            using var tf32 = Tensor.Matmul(ta, tb);
            var expected = Data.ToDouble(exact.ToArray());
            Tolerance.AssertClose(tf32.ToArray(), expected, 1e-2, 2e-3, "tf32 matmul");
            Assert.NotEqual(exact.ToArray(), tf32.ToArray());
        }
        finally
        {
            shaped.MatmulPrecision = GemmPrecision.Float32;
        }
    }

    /// <summary>
    /// Every kernel with every op functor, compiled by ILGPU's PTX backend for sm_80: catches what only the
    /// CUDA path would reject. With ENGINE_DUMP_PTX=DIR, each kernel's PTX is written there for inspection.
    /// </summary>
    [Fact]
    public void EveryKernelCompilesToPtx()
    {
        using var context = Context.Create(b => b.EnableAlgorithms());
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, nvvmAPI: null!);
        var kernels = new List<MethodInfo>();
        foreach (var type in new[] { typeof(ElementwiseKernels), typeof(RowKernels), typeof(TiledMatmul) })
        {
            foreach (var m in type.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly))
            {
                if (m.ReturnType != typeof(void) || m.GetParameters().Length == 0
                    || !m.GetParameters()[0].ParameterType.Name.StartsWith("ArrayView", StringComparison.Ordinal)) continue;
                if (!m.IsGenericMethodDefinition)
                {
                    kernels.Add(m);
                    continue;
                }
                var iface = m.GetGenericArguments()[0].GetGenericParameterConstraints().Single(c => c.IsInterface);
                foreach (var op in typeof(IUnaryOp).Assembly.GetTypes().Where(t => t.IsValueType && iface.IsAssignableFrom(t)))
                    kernels.Add(m.MakeGenericMethod(op));
            }
        }
        Assert.True(kernels.Count >= 40, $"only {kernels.Count} kernels found");
        foreach (var k in kernels)
        {
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(k);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
            Assert.Contains(".entry", compiled.PTXAssembly);
            if (Environment.GetEnvironmentVariable("ENGINE_DUMP_PTX") is { } dir) File.WriteAllText(Path.Combine(dir,
                k.Name + (k.IsGenericMethod ? "_" + k.GetGenericArguments()[0].Name : "") + ".ptx"), compiled.PTXAssembly);
        }
    }
}
