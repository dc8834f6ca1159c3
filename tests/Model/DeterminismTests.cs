using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The same seed gives the same bytes: `engine train-lm` runs a few GPT training steps (forward, backward, AdamW)
/// in child processes with 1, 2 and 3 processors and at each SIMD level the machine can be forced to, and the
/// saved parameters and optimizer state must be byte-identical. Every level with fused multiply-adds (AVX-512,
/// AVX2, 128-bit with FMA as on NEON) must match the machine's own run; 128-bit x86 without FMA rounds each
/// multiply-add twice (exact FMA there would need slow software emulation), so it must only match itself.
/// </summary>
public sealed class DeterminismTests
{
    static byte[][] Train(TempDirectory dir, string name, params string[] environment)
    {
        string text = dir.File("text.txt");
        if (!File.Exists(text))
            File.WriteAllText(text, string.Concat(Enumerable.Range(0, 400).Select(i => $"the cat {i % 7} sat on mat {i % 5}. ")));
        string output = dir.File(name);
        var (exit, log) = ChildProcess.Run("engine",
            ["train-lm", "--text", text, "--steps", "3", "--batch", "8", "--seed", "5", "--out", output], environment, timeoutSeconds: 300);
        Assert.True(exit == 0, $"train-lm {name} failed (exit {exit}):\n{log}");
        var latest = new Engine.Model.Checkpoints.CheckpointStore(output).Latest()!;
        return [File.ReadAllBytes(Path.Combine(output, "model", "model.safetensors")), File.ReadAllBytes(latest.File("optimizer.safetensors"))];
    }

    static void AssertSameBytes(byte[][] expected, byte[][] actual, string what)
    {
        Assert.True(expected[0].AsSpan().SequenceEqual(actual[0]), $"{what}: model.safetensors differs");
        Assert.True(expected[1].AsSpan().SequenceEqual(actual[1]), $"{what}: optimizer.safetensors differs");
    }

    [Fact]
    public void TrainingGivesTheSameBytesOnEveryCoreCount()
    {
        using var dir = new TempDirectory();
        var two = Train(dir, "two", "DOTNET_PROCESSOR_COUNT=2");
        AssertSameBytes(two, Train(dir, "one", "DOTNET_PROCESSOR_COUNT=1"), "1 processor vs 2");
        AssertSameBytes(two, Train(dir, "three", "DOTNET_PROCESSOR_COUNT=3"), "3 processors vs 2");
    }

    public static readonly TheoryData<string> Levels = new(ChildProcess.Levels.Keys);

    [Theory, MemberData(nameof(Levels))]
    public void TrainingGivesTheSameBytesAtEverySimdLevel(string level)
    {
        if (ChildProcess.Unavailable(level) is { } why) Assert.Skip(why);
        var (_, fma, env) = ChildProcess.Levels[level];
        using var dir = new TempDirectory();
        var forcedOne = Train(dir, "forced-one", [.. env, "DOTNET_PROCESSOR_COUNT=1"]);
        AssertSameBytes(forcedOne, Train(dir, "forced-two", [.. env, "DOTNET_PROCESSOR_COUNT=2"]), $"{level}: 1 processor vs 2");
        if (fma && Simd.VectorWidth.HasFma) AssertSameBytes(Train(dir, "native"), forcedOne, $"{level} vs {Simd.VectorWidth.Name}");
    }
}
