using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>The demo experiments' flags: bad values are usage errors, and the quick tree variant runs, warns and writes its files.</summary>
[Collection(nameof(CliContractTests))]
public sealed class ExperimentFlagTests
{
    static (int Exit, string Output) Engine(params string[] args) => ChildProcess.Run("engine", args, [], timeoutSeconds: 120);

    [Theory]
    [InlineData("grpo tree --quick --sweep", "--quick and --sweep exclude each other")]
    [InlineData("grpo tree --quick --seeds 5", "--quick runs 2 seeds of 100 steps")]
    [InlineData("grpo tree --sweep --lr 0.001", "--sweep runs every lr and temperature")]
    [InlineData("grpo tree --full --n 2", "--full runs every n and r_neg")]
    [InlineData("grpo tree --sweep --r-neg -0.5", "--sweep runs every n and r_neg")]
    [InlineData("grpo tree --temperature 0", "--temperature must be at least 0.05")]
    [InlineData("grpo tree --uniform-start -1", "--uniform-start must be in [0, 100000]")]
    [InlineData("grpo sums --lr 0", "--lr must be positive")]
    [InlineData("grpo sums --seeds 0", "--seeds and --steps must be ≥ 1")]
    public void BadExperimentFlagsAreUsageErrors(string command, string message)
    {
        var (exit, output) = Engine(command.Split(' '));
        Assert.True(exit == 2, $"exit {exit}, expected 2:\n{output}");
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TheQuickTreeRunWarnsAndLogsTreeStatisticsPerStep()
    {
        using var dir = new TempDirectory();
        string outDir = dir.File("tree");
        var (exit, output) = Engine("grpo", "tree", "--quick", "--out", outDir);
        Assert.True(exit == 0, output);
        Assert.Contains("too small", output, StringComparison.Ordinal);
        Assert.Contains("Δ final (λ − GRPO) [95 % CI]", output, StringComparison.Ordinal);
        Assert.Contains("r(entropy, depth)", output, StringComparison.Ordinal);
        var steps = File.ReadAllLines(Path.Combine(outDir, "steps.csv"));
        Assert.Equal("lr,temperature,n,r_neg,method,seed,step,target_frequency,reward_mean,entropy,path_depth,intermediate_proportion,lambda_mean",
            steps[0]);
        Assert.Equal(1 + 2 * 2 * 100, steps.Length);   // 2 seeds × 2 methods × 100 steps
        foreach (var plot in new[] { "target_frequency_n1_rneg-1.0.svg", "depth_vs_entropy.svg", "intermediate_vs_entropy.svg", "summary.md" })
            Assert.True(File.Exists(Path.Combine(outDir, plot)), plot);
        Assert.Contains("<polygon", File.ReadAllText(Path.Combine(outDir, "target_frequency_n1_rneg-1.0.svg")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.47, "F3", "+0.470")]
    [InlineData(-0.0174, "F3", "-0.017")]
    [InlineData(-0.0004, "F3", "0.000")]   // rounds to zero: no sign, not "-0.000"
    [InlineData(-0.4, "F0", "0")]
    [InlineData(44.6, "F0", "+45")]
    public void DifferencesCarryTheirSign(double value, string format, string expected) =>
        Assert.Equal(expected, global::Engine.Cli.Reporting.ExperimentReport.Signed(value, format));
}
