using Engine.Model.Checkpoints;
using Engine.Model.Training;
using Engine.Rl.Runs;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// `train-lm` and `grpo run` as library calls, without the CLI: a run prints nothing (they capture the console, so they run alone)
/// and reports through its callbacks; resumable LM training needs no command line.
/// </summary>
[Collection(nameof(CliContractTests))]
public sealed class LibraryRunTests
{
    static string Text(TempDirectory dir)
    {
        string text = dir.File("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        return text;
    }

    [Fact]
    public void AStoppedAndResumedRunEndsWithTheBytesOfAStraightOneAndPrintsNothing()
    {
        using var dir = new TempDirectory();
        string text = Text(dir);
        var old = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        var starts = new List<LmRunStart>();
        var steps = new List<LmRunStep>();
        try
        {
            var callbacks = new LmRunCallbacks(starts.Add, steps.Add);
            LmRun.Execute(new LmRunOptions(text, dir.File("straight"), Steps: 3, Batch: 2, CheckpointEvery: 1));
            LmRun.Execute(new LmRunOptions(text, dir.File("stopped"), Steps: 2, Batch: 2, CheckpointEvery: 1), callbacks);
            var result = LmRun.Execute(new LmRunOptions(text, dir.File("stopped"), Steps: 3, Resume: true), callbacks);
            Assert.Equal(3, result.Steps);
            Assert.Equal([3], result.History.Select(h => h.Step).ToArray());
        }
        finally
        {
            Console.SetOut(old);
        }
        Assert.Equal("", captured.ToString());
        Assert.Equal([false, true], starts.Select(s => s.Resumed).ToArray());
        Assert.Equal(2, starts[1].State.Step);
        Assert.Equal(3, starts[1].State.Steps);
        Assert.Equal([1, 2, 3], steps.Select(s => s.Step.Step).ToArray());
        Assert.All(steps, s => Assert.True(s.Checkpointed));
        string Of(string run, string file) => Path.Combine(dir.File(run), file);
        Assert.True(File.ReadAllBytes(Of("straight", "model/model.safetensors")).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Of("stopped", "model/model.safetensors"))));
        Assert.Equal(File.ReadAllLines(Of("straight", LmRun.LossFileName)).Select(Losses),
            File.ReadAllLines(Of("stopped", LmRun.LossFileName)).Select(Losses));
        Assert.Equal([1, 2, 3], new CheckpointStore(dir.File("stopped")).Sets.Select(s => s.Step).ToArray());
    }

    /// <summary>A loss-log line without its tokens/s column, which is a timing.</summary>
    static string Losses(string line) => line[..line.LastIndexOf(',')];

    [Theory]
    [InlineData(0, null, "--steps must be positive")]
    [InlineData(null, "huge", "--config must be tiny, small or gpt2")]
    public void SettingsThatCannotRunAreRefusedBeforeAnyFileIsWritten(int? steps, string? config, string message)
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var e = Assert.Throws<RunSettingsException>(() => LmRun.Execute(new LmRunOptions(Text(dir), run, config, steps)));
        Assert.Contains(message, e.Message);
        Assert.False(Directory.Exists(run));
    }

    [Theory]
    [InlineData(0, false, "--steps must be positive, got 0")]
    [InlineData(null, true, "--resume continues a run and --force replaces it: give one of them")]
    public void GrpoOptionsThatCannotRunAreRefusedBeforeAnyFileIsRead(int? steps, bool resumeAndForce, string message)
    {
        using var dir = new TempDirectory();
        string config = GrpoRunTests.Setup(dir), run = dir.File("run");
        var loaded = GrpoRunConfig.Load(config);
        File.Delete(dir.File("prompts.jsonl"));
        var e = Assert.Throws<RunSettingsException>(() =>
            GrpoRun.Execute(loaded, new GrpoRunOptions(run, steps, Resume: resumeAndForce, Force: resumeAndForce)));
        Assert.Equal(message, e.Message);
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void AGrpoRunPrintsNothingAndReportsEachStepAndCheckpoint()
    {
        using var dir = new TempDirectory();
        string config = GrpoRunTests.Setup(dir), run = dir.File("run");
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var captured = new StringWriter();
        Console.SetOut(captured);
        Console.SetError(captured);
        var starts = new List<GrpoRunStart>();
        var steps = new List<GrpoRunStep>();
        try
        {
            GrpoRun.Execute(GrpoRunConfig.Load(config), new GrpoRunOptions(run), new GrpoRunCallbacks(starts.Add, steps.Add));
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
        Assert.Equal("", captured.ToString());
        var start = Assert.Single(starts);
        Assert.Null(start.ResumedAt);
        Assert.Equal(4, start.Config.Steps);
        Assert.True(start.Parameters > 0);
        // checkpoint_every 2 over 4 steps; the eval runs every 2 steps too.
        Assert.Equal([1, 2, 3, 4], steps.Select(s => s.Metrics.Step).ToArray());
        Assert.Equal([false, true, false, true], steps.Select(s => s.Checkpointed).ToArray());
        Assert.Equal([false, true, false, true], steps.Select(s => s.Metrics.Eval is not null).ToArray());
        Assert.All(steps, s => Assert.Equal(run, s.Directory));
    }
}
