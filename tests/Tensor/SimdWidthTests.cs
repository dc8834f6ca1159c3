using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Simd;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// Runs the SIMD kernel and CPU conformance classes again in child processes forced to each lower SIMD level
/// (AVX2 on an AVX-512 machine; 128 bits with and without FMA), so every width goes through the same tests.
/// </summary>
public sealed class SimdWidthTests
{
    internal const string ExpectedBits = "ENGINE_TEST_EXPECT_SIMD_BITS", ExpectedFma = "ENGINE_TEST_EXPECT_FMA";
    internal const string ProbeFile = "ENGINE_TEST_PROBE_FILE";

    static readonly string[] Classes =
    [
        "Engine.Tests.GemmTests", "Engine.Tests.ElementwiseTests", "Engine.Tests.ReductionTests", "Engine.Tests.NeuralNetOpTests",
        "Engine.Tests.TreeAttentionTests", "Engine.Tests.GradientTests", "Engine.Tests.PyTorchParityTests",
        "Engine.Tests.Backends.CpuConformance", "Engine.Tests.VectorMathTests", "Engine.Tests.SimdWidthProbe",
    ];

    public static readonly TheoryData<string> Levels = new(ChildProcess.Levels.Keys);

    [Theory, MemberData(nameof(Levels))]
    public void SimdClassesPassAtEveryLowerLevel(string level)
    {
        if (ChildProcess.Unavailable(level) is { } why) Assert.Skip(why);
        var (bits, fma, env) = ChildProcess.Levels[level];
        var args = Classes.SelectMany(c => new[] { "-class", c }).Concat(["-explicit", "on", "-noColor", "-noLogo"]);
        using var dir = new TempDirectory();
        string probe = Path.Combine(dir.Path, "probe.txt");
        string[] childEnv = [.. env, $"{ExpectedBits}={bits}", $"{ExpectedFma}={fma}", $"{ProbeFile}={probe}"];
        var (exit, output) = ChildProcess.Run("Engine.Tests", args, childEnv);
        Assert.True(exit == 0, $"{level}: the child run failed (exit {exit}):\n{output}");
        // The probe ran and passed (so the width was really forced), and the classes contributed their tests.
        Assert.True(File.Exists(probe), $"{level}: the width probe did not run:\n{output}");
        var summary = output.Split('\n').Last(l => l.Contains("Total:"));
        int total = int.Parse(summary.Split("Total:")[1].Split(',')[0].Trim());
        Assert.True(total > 400, $"{level}: only {total} tests ran:\n{summary}");
    }
}

/// <summary>Checks, inside a child run of <see cref="SimdWidthTests"/>, that the forced level took effect.</summary>
public sealed class SimdWidthProbe
{
    [Fact(Explicit = true)]
    public void TheForcedLevelTookEffect()
    {
        string expected = Environment.GetEnvironmentVariable(SimdWidthTests.ExpectedBits) ?? throw new InvalidOperationException("not a child run");
        int bits = int.Parse(expected);
        bool fma = bool.Parse(Environment.GetEnvironmentVariable(SimdWidthTests.ExpectedFma)!);
        Assert.Equal(bits, VectorWidth.Bits);
        Assert.Equal(fma, VectorWidth.HasFma);
        Assert.Equal(bits >= 512, Vector512.IsHardwareAccelerated);
        Assert.Equal(bits >= 256, Vector256.IsHardwareAccelerated);
        Assert.True(Vector128.IsHardwareAccelerated);
        Assert.Equal(fma, Fma.IsSupported);
        File.WriteAllText(Environment.GetEnvironmentVariable(SimdWidthTests.ProbeFile)!, VectorWidth.Name);
    }
}
