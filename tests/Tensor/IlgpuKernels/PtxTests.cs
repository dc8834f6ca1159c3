using System.Reflection;
using System.Text.RegularExpressions;
using Engine.Ilgpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// Compiles the kernels to PTX for sm_80 with ILGPU's PTX backend, which needs no GPU, and checks the code
/// that only a GPU could run: the tensor-core instructions, and that the main loops keep their accumulators
/// in registers (no <c>.local</c> memory).
/// </summary>
[Collection(nameof(IlgpuKernelCollection))]
public sealed class PtxTests
{
    /// <summary>The PTX of one explicitly grouped kernel. Each call uses a fresh context (a failed compile can poison one).</summary>
    public static string Compile(Type type, string method) =>
        Compile(type.GetMethod(method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new ArgumentException($"{type.Name}.{method} not found"));

    /// <summary>The PTX of the explicitly grouped kernel <paramref name="info"/> (a closed method: generic ones instantiated).</summary>
    public static string Compile(MethodInfo info)
    {
        using var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        var architecture = CudaArchitecture.SM_80;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_80, nvvmAPI: null);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(info);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
        if (Environment.GetEnvironmentVariable("ENGINE_PTX_DUMP") is { Length: > 0 } dir)
            File.WriteAllText(Path.Combine(dir, $"{info.DeclaringType!.Name}.{info.Name}.ptx"), compiled.PTXAssembly);
        return compiled.PTXAssembly;
    }

    static int Count(string ptx, string pattern) => Regex.Matches(ptx, pattern).Count;

    [Fact]
    public void SimtGemmUses128BitLoadsAndNoLocalMemory()
    {
        var ptx = Compile(typeof(GemmSimt), nameof(GemmSimt.Kernel));
        Assert.DoesNotContain(".local", ptx);
        Assert.DoesNotContain(".extern", ptx);
        // ILGPU addresses global memory generically: 128-bit loads appear as ld.v4.f32.
        Assert.True(Count(ptx, @"ld(\.global)?\.v4\.f32") >= 2, "expected 128-bit global loads");
        Assert.Equal(32, Count(ptx, @"ld\.shared\.v4\.f32"));
        Assert.True(Count(ptx, @"\bmul(\.rn)?\.f32") >= 512, "expected the 8 × 64 multiply-adds of one slab unrolled");
    }

    [Theory]
    // A 16-deep slab: two m16n8k8 steps of 8 tf32 mmas, or one m16n8k16 step of 8 bf16 mmas.
    [InlineData(nameof(GemmTensorCore.KernelTf32), "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", "cvt.rna.tf32.f32", 16)]
    [InlineData(nameof(GemmTensorCore.KernelBf16), "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", "cvt.rn.bf16x2.f32", 8)]
    public void TensorCoreGemmEmitsMmaWithRegisterAccumulators(string kernel, string mma, string cvt, int mmas)
    {
        var ptx = Compile(typeof(GemmTensorCore), kernel);
        Assert.Equal(mmas, Count(ptx, Regex.Escape(mma)));
        Assert.Contains(cvt, ptx);
        Assert.DoesNotContain(".extern", ptx);
        // Operands and accumulators are PTX registers the kernel declares: every mma reads fa/fb and tc only.
        // ptxas needs each name declared before its first use in the text (ILGPU may place blocks in any order).
        foreach (var (declaration, use) in new[] { (".reg .f32 tc<32>;", "tc0"), (".reg .b32 fa<8>;", "fa0"), (".reg .b32 fb<8>;", "fb0") })
        {
            int at = ptx.IndexOf(declaration, StringComparison.Ordinal);
            Assert.True(at >= 0, $"{declaration} missing");
            Assert.True(at < Regex.Match(ptx, $@"\b{use}\b").Index, $"{use} used before {declaration}");
        }
        Assert.Equal(mmas, Count(ptx,
            Regex.Escape(mma) + @" \{tc\d+,tc\d+,tc\d+,tc\d+\}, \{fa\d,fa\d,fa\d,fa\d\}, \{fb\d,fb\d\}, \{tc\d+,tc\d+,tc\d+,tc\d+\};"));
        // .local serves only the 32 one-time read-outs of the accumulators after the loop: each `out` of
        // CudaAsm.Emit gets a 4-byte slot, zeroed at entry, written from tcN once and read once.
        foreach (Match m in Regex.Matches(ptx, @"\.local \.align \d+ \.b8 \w+\[(\d+)\]"))
            Assert.Equal("4", m.Groups[1].Value);
        Assert.Equal(32, Count(ptx, @"ld\.local"));
        Assert.Equal(32, Count(ptx, @"st\.local\.f32\s+\[%rd\d+\], 0f00000000;"));
        Assert.Equal(32, Count(ptx, @"mov\.f32 \t?%f\d+, tc\d+;\s*\n\s*st\.local"));
        Assert.Equal(64, Count(ptx, @"st\.local"));
    }

    [Theory]
    [InlineData(nameof(AttentionFlash.Forward))]
    [InlineData(nameof(AttentionFlash.QueryGradient))]
    [InlineData(nameof(AttentionFlash.KeyValueGradient))]
    public void AttentionKernelsCompileWithoutCallsOrLocalMemory(string kernel)
    {
        var ptx = Compile(typeof(AttentionFlash), kernel);
        Assert.DoesNotContain(".extern", ptx);
        Assert.DoesNotContain("call", ptx);
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains("ex2.approx", ptx);
        Assert.Contains("bar.sync", ptx);
        // A row's four lanes add their partial dot products with two butterfly shuffles: 1 per product in the
        // forward pass (q·k), 2 in each backward pass (q·k and dO·v, or k·q and v·dO).
        int products = kernel == nameof(AttentionFlash.Forward) ? 1 : 2;
        Assert.Equal(2 * products, Count(ptx, @"shfl\.sync\.bfly\.b32\s+%f\d+, %f\d+, [12], 31, 4294967295;"));
    }

    [Theory]
    [InlineData(nameof(TreeAttentionKernels.Forward), 1)]
    [InlineData(nameof(TreeAttentionKernels.QueryGradient), 2)]
    [InlineData(nameof(TreeAttentionKernels.KeyValueGradient), 2)]
    public void TreeAttentionKernelsKeepTheirRowsInRegistersAndShuffle(string kernel, int products)
    {
        var ptx = Compile(typeof(TreeAttentionKernels), kernel);
        Assert.DoesNotContain(".extern", ptx);
        Assert.DoesNotContain("call", ptx);
        Assert.DoesNotContain(".local", ptx);
        // Two shuffles per dot product, and one in the loop that finds the warp's longest walk.
        Assert.Equal(2 * products + 1, Count(ptx, @"shfl\.sync\.bfly\.b32"));
    }
}
