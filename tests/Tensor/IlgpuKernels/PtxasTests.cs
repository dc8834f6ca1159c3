using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Ilgpu.Kernels;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// Every CUDA kernel the ILGPU backend loads, compiled to PTX and assembled by NVIDIA's own ptxas for sm_80 and sm_90.
/// An assembler error fails; so does a hot kernel (GEMM, attention) that spills more, loses occupancy, or (a GEMM) gains
/// local-memory traffic in its main loop, against tests/Fixtures/ptxas-baseline.json ([spill stores, spill loads,
/// occupancy in 64ths, main-loop local accesses] per kernel and architecture). The tensor-core GEMMs must issue HMMA.
/// The resource table goes to ptxas-resources.md in the test output folder
/// (bench/RESULTS.md quotes it). ptxas comes from .ci/fetch-ptxas.sh (ENGINE_PTXAS, or its cache folder); without
/// it the test is skipped, with the reason.
/// </summary>
[Collection(nameof(IlgpuKernelCollection))]
public sealed partial class PtxasTests
{
    static readonly string[] Architectures = ["sm_80", "sm_90"];

    const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance;

    /// <summary>Threads per block where the launch fixes them (a warp for the tree kernels), for the occupancy of the hot kernels.</summary>
    static readonly Dictionary<string, int> BlockThreads = new(StringComparer.Ordinal)
    {
        ["GemmSimt.Kernel"] = GemmSimt.Threads,
        ["GemmTensorCore.KernelTf32"] = GemmTensorCore.Threads,
        ["GemmTensorCore.KernelBf16"] = GemmTensorCore.Threads,
        ["AttentionFlash.Forward"] = AttentionFlash.ForwardThreads,
        ["AttentionFlash.QueryGradient"] = AttentionFlash.BackwardThreads,
        ["AttentionFlash.KeyValueGradient"] = AttentionFlash.BackwardThreads,
        ["TreeAttentionKernels.Forward"] = 32,
        ["TreeAttentionKernels.QueryGradient"] = 32,
        ["TreeAttentionKernels.KeyValueGradient"] = 32,
    };

    /// <summary>What ptxas reported for one kernel and architecture.</summary>
    public sealed record Resources(string Kernel, string Arch, int Registers, int SpillStores, int SpillLoads, int StackFrame, int SharedBytes)
    {
        /// <summary>Resident warps per SM over the 64 an sm_80/sm_90 SM holds, at <paramref name="threads"/> per block.</summary>
        public double Occupancy(int threads)
        {
            int warps = (threads + 31) / 32;
            int regsPerWarp = (Math.Max(Registers, 1) * 32 + 255) / 256 * 256;
            int byRegisters = 65536 / (regsPerWarp * warps);
            int smemPerSm = Arch == "sm_90" ? 228 * 1024 : 164 * 1024;
            int bySharedMemory = SharedBytes == 0 ? 32 : smemPerSm / (SharedBytes + 1024);
            int blocks = Math.Min(Math.Min(byRegisters, bySharedMemory), Math.Min(32, 64 / warps));
            return blocks * warps / 64.0;
        }
    }

    static string? Ptxas()
    {
        if (Environment.GetEnvironmentVariable("ENGINE_PTXAS") is { Length: > 0 } set && File.Exists(set)) return set;
        string cache = Environment.GetEnvironmentVariable("ENGINE_CUDA_CACHE")
            ?? Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "engine", "cuda-12.4");
        string path = Path.Combine(cache, "usr", "bin", "ptxas");
        return File.Exists(path) ? path : null;
    }

    /// <summary>
    /// The kernels: every static method of Engine.Ilgpu.Kernels whose address the backend takes (an <c>ldftn</c> in its IL,
    /// as each <c>LoadStreamKernel(Kernel)</c> compiles to), and each generic one for every op functor it can take.
    /// </summary>
    public static IReadOnlyList<(string Name, MethodInfo Method)> Kernels()
    {
        var assembly = typeof(GemmSimt).Assembly;
        var found = new Dictionary<string, MethodInfo>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes().Where(t => t.Namespace?.StartsWith("Engine.Ilgpu", StringComparison.Ordinal) == true))
            foreach (var method in type.GetMethods(All | BindingFlags.DeclaredOnly).Cast<MethodBase>().Concat(type.GetConstructors(All)))
            {
                var il = method.GetMethodBody()?.GetILAsByteArray();
                if (il is null) continue;
                for (int i = 0; i + 5 < il.Length; i++)
                {
                    if (il[i] != 0xFE || il[i + 1] != 0x06) continue;
                    MethodInfo? target;
                    try
                    {
                        target = method.Module.ResolveMethod(BitConverter.ToInt32(il, i + 2),
                            type.IsGenericType ? type.GetGenericArguments() : null,
                            method.IsGenericMethod ? method.GetGenericArguments() : null) as MethodInfo;
                    }
                    catch (ArgumentException)
                    {
                        continue;
                    }
                    if (target is null || !target.IsStatic || target.ReturnType != typeof(void)
                        || target.DeclaringType?.Namespace != "Engine.Ilgpu.Kernels")
                        continue;
                    foreach (var instance in Instances(target))
                        found[Name(instance)] = instance;
                }
            }
        return [.. found.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => (k.Key, k.Value))];
    }

    static IEnumerable<MethodInfo> Instances(MethodInfo kernel)
    {
        if (!kernel.ContainsGenericParameters) return [kernel];
        var definition = kernel.GetGenericMethodDefinition();
        var parameter = definition.GetGenericArguments().Single();
        var constraint = parameter.GetGenericParameterConstraints().Single(c => c.IsInterface);
        return typeof(Engine.Tensor).Assembly.GetTypes()
            .Where(t => t.IsValueType && !t.IsGenericTypeDefinition && constraint.IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .Select(t => definition.MakeGenericMethod(t));
    }

    static string Name(MethodInfo m) =>
        $"{m.DeclaringType!.Name}.{m.Name}{(m.IsGenericMethod ? $"<{string.Join(",", m.GetGenericArguments().Select(a => a.Name))}>" : "")}";

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex Spills();

    [GeneratedRegex(@"Used (\d+) registers(?:, \d+ bytes cumulative stack size)?(?:, (\d+) bytes smem)?")]
    private static partial Regex Used();

    static Resources Assemble(string ptxas, string kernel, string ptx, string arch, string folder)
    {
        string file = Path.Combine(folder, $"{kernel.Replace('<', '_').Replace('>', '_').Replace(',', '_')}.{arch}.ptx");
        File.WriteAllText(file, ptx);
        var info = new ProcessStartInfo(ptxas) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { $"-arch={arch}", "-v", file, "-o", Path.ChangeExtension(file, ".cubin") }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string log = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ptxas -arch={arch} rejected {kernel}:\n{log}{stdout.Result}");
        var spills = Spills().Match(log);
        var used = Used().Match(log);
        Assert.True(spills.Success && used.Success, $"ptxas -v printed no resources for {kernel}:\n{log}");
        int Group(Match m, int g) => m.Groups[g].Success ? int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture) : 0;
        return new Resources(kernel, arch, Group(used, 1), Group(spills, 2), Group(spills, 3), Group(spills, 1), Group(used, 2));
    }

    [Fact]
    public void EveryKernelAssemblesAndNoHotKernelSpillsMoreOrLosesOccupancy()
    {
        string? ptxas = Ptxas();
        if (ptxas is null)
        {
            Assert.Skip("ptxas not found: run .ci/fetch-ptxas.sh (CI does) or set ENGINE_PTXAS");
            return;
        }
        var kernels = Kernels();
        Assert.True(kernels.Count >= 40, $"found only {kernels.Count} kernels: {string.Join(", ", kernels.Select(k => k.Name))}");
        string folder = Path.Combine(Path.GetTempPath(), $"engine-ptxas-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var ptx = kernels.ToDictionary(k => k.Name, k => PtxTests.Compile(k.Method), StringComparer.Ordinal);
            var results = new List<Resources>();
            var jobs = from k in kernels from arch in Architectures select (k.Name, arch);
            Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = 4 }, job =>
            {
                var r = Assemble(ptxas, job.Name, ptx[job.Name], job.arch, folder);
                lock (results) results.Add(r);
            });
            WriteTable(results);
            var baseline = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, int[]>>>(
                File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "ptxas-baseline.json")))!;
            foreach (var arch in Architectures)
                foreach (var (kernel, mma, count) in new[] { ("GemmSimt.Kernel", (string?)null, 512),
                    ("GemmTensorCore.KernelTf32", "HMMA.1688.F32.TF32", 16),
                             ("GemmTensorCore.KernelBf16", "HMMA.16816.F32.BF16", 8) })
                {
                    int local = MainLoopLocalAccesses(ptxas, folder, kernel, arch, mma, count);
                    Assert.True(local <= baseline[kernel][arch][3],
                        $"{kernel} on {arch}: its main loop now has {local} local-memory accesses, baseline {baseline[kernel][arch][3]}");
                }
            foreach (var (kernel, threads) in BlockThreads)
                foreach (var arch in Architectures)
                {
                    var r = results.Single(x => x.Kernel == kernel && x.Arch == arch);
                    // baseline: [spill stores, spill loads, occupancy in 1/64ths]
                    var limit = baseline[kernel][arch];
                    Assert.True(r.SpillStores <= limit[0] && r.SpillLoads <= limit[1],
                        $"{kernel} on {arch} now spills {r.SpillStores}/{r.SpillLoads} bytes (stores/loads), baseline {limit[0]}/{limit[1]}");
                    Assert.True(Math.Round(r.Occupancy(threads) * 64) >= limit[2],
                        $"{kernel} on {arch}: occupancy {r.Occupancy(threads):P0} at {threads} threads fell below the baseline " +
                        $"{limit[2]}/64 ({r.Registers} registers)");
                }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"^\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?P\d\s+)?([A-Z][A-Z0-9.]*)(.*)$", RegexOptions.Multiline)]
    private static partial Regex SassLine();

    /// <summary>
    /// The SASS of a GEMM: at least <paramref name="multiplyCount"/> of its multiply-adds (FFMA, or the expected HMMA of a
    /// tensor-core kernel). Returns the local-memory loads and stores in the main loop (the innermost backward branch
    /// around every multiply-add).
    /// </summary>
    static int MainLoopLocalAccesses(string ptxas, string folder, string kernel, string arch, string? mma, int multiplyCount)
    {
        string cubin = Path.Combine(folder, $"{kernel}.{arch}.cubin");
        var info = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(ptxas)!, "cuobjdump"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add("-sass");
        info.ArgumentList.Add(cubin);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string sass = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"cuobjdump -sass {cubin}: {stderr.Result}");
        var lines = SassLine().Matches(sass)
            .Select(m => (Address: Convert.ToInt64(m.Groups[1].Value, 16), Op: m.Groups[2].Value, Operands: m.Groups[3].Value)).ToList();
        string math = mma ?? "FFMA";
        var multiplies = lines.Where(l => l.Op.StartsWith(math, StringComparison.Ordinal)).ToList();
        Assert.True(multiplies.Count >= multiplyCount, $"{kernel} on {arch}: {multiplies.Count} {math} instructions, expected {multiplyCount}");
        // The main loop: the backward branch that encloses every multiply-add.
        var loop = lines.Where(l => l.Op == "BRA" && Regex.Match(l.Operands, @"0x([0-9a-f]+)") is { Success: true } t
                && Convert.ToInt64(t.Groups[1].Value, 16) is var target && target <= multiplies[0].Address && l.Address >= multiplies[^1].Address)
            .Select(l => (Start: Convert.ToInt64(Regex.Match(l.Operands, @"0x([0-9a-f]+)").Groups[1].Value, 16), End: l.Address)).ToList();
        Assert.True(loop.Count > 0, $"{kernel} on {arch}: no loop around the {math} instructions");
        var (start, end) = loop.OrderBy(l => l.End - l.Start).First();
        var local = lines.Where(l => l.Address >= start && l.Address <= end
            && (l.Op.StartsWith("LDL", StringComparison.Ordinal) || l.Op.StartsWith("STL", StringComparison.Ordinal))).ToList();
        return local.Count;
    }

    static void WriteTable(List<Resources> results)
    {
        var table = new StringBuilder(
            "| kernel | arch | registers | spill stores / loads (bytes) | stack frame | shared memory | occupancy (threads) |\n");
        table.Append("|---|---|---:|---:|---:|---:|---:|\n");
        foreach (var r in results.OrderBy(r => r.Kernel, StringComparer.Ordinal).ThenBy(r => r.Arch, StringComparer.Ordinal))
        {
            string occupancy = BlockThreads.TryGetValue(r.Kernel, out int t) ? $"{r.Occupancy(t):P0} ({t})" : "";
            table.Append(CultureInfo.InvariantCulture,
                $"| {r.Kernel} | {r.Arch} | {r.Registers} | {r.SpillStores} / {r.SpillLoads} | {r.StackFrame} | {r.SharedBytes} | {occupancy} |\n");
        }
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "ptxas-resources.md"), table.ToString());
    }
}
