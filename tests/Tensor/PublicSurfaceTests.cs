using System.Runtime.CompilerServices;
using System.Reflection;
using Engine.Autograd;

namespace Engine.Tests;

/// <summary>The backend seam is internal: no public member hands out raw memory or takes an unchecked plan.</summary>
public sealed class PublicSurfaceTests
{
    static readonly Assembly[] s_libraries = [typeof(Tensor).Assembly, typeof(Variable).Assembly, typeof(Engine.Model.Gpt).Assembly];

    [Theory]
    [InlineData("Engine.IBackend")]
    [InlineData("Engine.Storage")]
    [InlineData("Engine.Cpu.CpuBackend")]
    [InlineData("Engine.Cpu.CpuStorage")]
    [InlineData("Engine.Ilgpu.IlgpuBackend")]
    [InlineData("Engine.Ilgpu.IlgpuStorage")]
    [InlineData("Engine.Ilgpu.Kernels.GemmKernels")]
    [InlineData("Engine.Ilgpu.Kernels.AttentionKernels")]
    [InlineData("Engine.MatmulPlan")]
    [InlineData("Engine.StridedCopy")]
    [InlineData("Engine.Reduction")]
    [InlineData("Engine.Broadcast")]
    [InlineData("Engine.AttentionPlan")]
    public void BackendTypesAreInternal(string name)
    {
        var type = typeof(Tensor).Assembly.GetType(name);
        Assert.NotNull(type);
        Assert.False(type.IsVisible, $"{name} is public");
    }

    [Fact]
    public void NoPublicMemberTakesOrReturnsAPointer()
    {
        // The SIMD helpers (Engine.Simd) are the exception: they read and write only memory the caller points them at,
        // and user element-wise ops (IBinaryOp) are generic over them.
        var offenders = new List<string>();
        foreach (var type in s_libraries.SelectMany(a => a.GetExportedTypes()).Where(t => t.Namespace != "Engine.Simd"))
        {
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var m in type.GetMethods(flags).Where(m => m.ReturnType.IsPointer || m.GetParameters().Any(p => p.ParameterType.IsPointer)))
                offenders.Add($"{type.FullName}.{m.Name}");
            foreach (var p in type.GetProperties(flags).Where(p => p.PropertyType.IsPointer)) offenders.Add($"{type.FullName}.{p.Name}");
            foreach (var f in type.GetFields(flags).Where(f => f.FieldType.IsPointer)) offenders.Add($"{type.FullName}.{f.Name}");
        }
        Assert.Empty(offenders);
    }
}

/// <summary>What users legitimately need from the seam (a leak count, the version counter, the cache) stays public.</summary>
[Collection(nameof(MemoryTests))]
public sealed class PublicMemoryTests
{
    [Fact]
    public void DeviceMemoryCountsStayPublicAndSafe()
    {
        long before = Tensor.LiveStorageCount;
        using (var t = Tensor.Zeros(new Shape(4)))
        {
            Assert.Equal(before + 1, Tensor.LiveStorageCount);
            int version = t.Version;
            t.CopyFrom([1f, 2f, 3f, 4f]);
            Assert.Equal(version + 1, t.Version);
        }
        Assert.Equal(before, Tensor.LiveStorageCount);
        Device.Cpu.TrimCache();
        Assert.Equal(0, Device.Cpu.CachedBytes);
    }
}

/// <summary>The opt-in leak report names a tensor that was never disposed, and only that one.</summary>
[Collection(nameof(MemoryTests))]
public sealed class TensorLeakTests
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    static void LeakOne()
    {
        // The classic: the Randn temporary is never disposed.
        using var scaled = Tensor.Randn(new Shape(3, 5), seed: 7) * 0.5f;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void DisposeAll()
    {
        using var noise = Tensor.Randn(new Shape(7, 2), seed: 7);
        using var scaled = noise * 0.5f;
    }

    [Fact]
    public void ALeakedTensorIsReportedWithItsCreationSite()
    {
        bool was = TensorLeaks.Track;
        TensorLeaks.Track = true;
        try
        {
            // On a thread of its own: a tensor scope left open on a runner thread would keep the leak reachable.
            var thread = new Thread(() =>
            {
                LeakOne();
                DisposeAll();
            });
            thread.Start();
            thread.Join();
            var leaks = TensorLeaks.Collect();
            var mine = leaks.Where(l => l.CreatedAt.Contains(nameof(LeakOne), StringComparison.Ordinal)).ToArray();
            var leak = Assert.Single(mine);
            Assert.Equal(new Shape(3, 5), leak.Shape);
            // The stack starts at the method the caller called, then the caller: not at the factories inside Tensor.
            var frames = leak.CreatedAt.Split(Environment.NewLine);
            Assert.StartsWith("at Engine.Tensor.Randn(", frames[0].TrimStart(), StringComparison.Ordinal);
            Assert.Contains(nameof(LeakOne), frames[1], StringComparison.Ordinal);
            Assert.DoesNotContain(leaks, l => l.CreatedAt.Contains(nameof(DisposeAll), StringComparison.Ordinal));
        }
        finally
        {
            TensorLeaks.Track = was;
        }
    }
}
