using Engine.Model.Checkpoints;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// Checkpoint sets appear whole or not at all, are verified on load, pruned to the newest N,
/// and run directories are never overwritten unasked.
/// </summary>
public sealed class CheckpointStoreTests
{
    static CheckpointSet SaveText(CheckpointStore store, int step, params (string Name, string Text)[] files) =>
        store.Save(step, dir =>
        {
            foreach (var (name, text) in files) File.WriteAllText(Path.Combine(dir, name), text);
        });

    static string[] Entries(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void ASetListsEveryFileWithItsSizeAndChecksumAndVerifies()
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path);
        var set = SaveText(store, 12, ("a.txt", "alpha"), ("b.bin", "bravo!"));
        Assert.Equal(Path.Combine(store.Root, "step-00000012"), set.Directory);
        Assert.Equal(["a.txt", "b.bin", "manifest.json"], Entries(set.Directory));
        Assert.Equal(["step-00000012"], Entries(store.Root));
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(set.File("manifest.json")))!;
        Assert.Equal(6, (long)manifest["files"]!["b.bin"]!["bytes"]!);
        Assert.Equal(12, store.Latest()!.Step);
    }

    [Fact]
    public void OnlyTheNewestSetsAreKept()
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path, keep: 2);
        for (int step = 1; step <= 5; step++) SaveText(store, step, ("x", $"{step}"));
        Assert.Equal([4, 5], store.Sets.Select(s => s.Step).ToArray());
        Assert.Equal(["step-00000004", "step-00000005"], Entries(store.Root));
        Assert.Throws<ArgumentException>(() => new CheckpointStore(tmp.Path, keep: 0));
    }

    [Fact]
    public void AFailedSaveLeavesNoTraceAndTheSetsOnDiskUntouched()
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path);
        SaveText(store, 1, ("x", "one"));
        var e = Assert.Throws<IOException>(() => store.Save(2, dir =>
        {
            File.WriteAllText(Path.Combine(dir, "x"), "two");
            throw new IOException("No space left on device");
        }));
        Assert.Contains("saving step 2", e.Message);
        Assert.Contains("the newest complete set is still step 1", e.Message);
        Assert.Equal(["step-00000001"], Entries(store.Root));
        Assert.Equal("one", File.ReadAllText(store.Latest()!.File("x")));
    }

    [Fact]
    public void CleanUpRemovesWhatAKilledSaveLeftAndRestoresAnInterruptedReplacement()
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path);
        SaveText(store, 3, ("x", "three"));
        // A kill between moving step 3 aside and moving its replacement in; a staging folder; a half-deleted set; a temp file.
        Directory.Move(Path.Combine(store.Root, "step-00000003"), Path.Combine(store.Root, $".step-00000003.old-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(Path.Combine(store.Root, $".step-00000004.tmp-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(Path.Combine(store.Root, $".step-00000001.deleting-{Guid.NewGuid():N}"));
        File.WriteAllText(Path.Combine(store.Root, $".x.{Guid.NewGuid():N}.tmp"), "junk");
        Assert.Equal(3, store.CleanUp());
        Assert.Equal(["step-00000003"], Entries(store.Root));
        Assert.Equal("three", File.ReadAllText(store.Latest()!.File("x")));
    }

    [Theory]
    [InlineData("truncate", "has 2 bytes, but the manifest says 5")]
    [InlineData("change", "does not match its SHA-256")]
    [InlineData("delete", "x is missing")]
    [InlineData("manifest", "manifest.json is missing")]
    public void ADamagedNewestSetIsRefusedNamingTheFileAndTheIntactOne(string damage, string message)
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path);
        SaveText(store, 1, ("x", "first"));
        var set = SaveText(store, 2, ("x", "later"));
        switch (damage)
        {
            case "truncate": File.WriteAllText(set.File("x"), "la"); break;
            case "change": File.WriteAllText(set.File("x"), "LATER"); break;
            case "delete": File.Delete(set.File("x")); break;
            default: File.Delete(set.File("manifest.json")); break;
        }
        var e = Assert.Throws<CheckpointException>(() => store.Latest());
        Assert.Contains(message, e.Message);
        Assert.Contains("the newest intact set is step 1", e.Message);
    }

    [Fact]
    public void ANewRunNeverWritesIntoADirectoryThatHoldsSomethingElse()
    {
        using var tmp = new TempDirectory();
        string other = tmp.File("photos");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "cat.jpg"), "meow");
        foreach (bool force in new[] { false, true })
        {
            var e = Assert.Throws<IOException>(() => RunDirectory.Create("test", other, force));
            Assert.Contains("holds no Engine run", e.Message);
        }
        Assert.Equal("meow", File.ReadAllText(Path.Combine(other, "cat.jpg")));
        File.WriteAllText(tmp.File("file"), "keep");
        Assert.Contains("is a file", Assert.Throws<IOException>(() => RunDirectory.Create("test", tmp.File("file"), force: true)).Message);
    }

    [Fact]
    public void AnExistingRunIsReplacedOnlyWithForceAndIsLockedWhileOpen()
    {
        using var tmp = new TempDirectory();
        string dir = tmp.File("run");
        using (var run = RunDirectory.Create("test", dir, force: false))
        {
            SaveText(run.Checkpoints, 1, ("x", "old"));
            Assert.Contains("in use by another process", Assert.Throws<IOException>(() => RunDirectory.Resume("test", dir)).Message);
        }
        Assert.Contains("pass --resume to continue it, or --force",
            Assert.Throws<IOException>(() => RunDirectory.Create("test", dir, force: false)).Message);
        Assert.True(new CheckpointStore(dir).Latest() is { Step: 1 });
        using (var run = RunDirectory.Create("test", dir, force: true))
            Assert.Empty(run.Checkpoints.Sets);
        Assert.DoesNotContain(Entries(tmp.Path), e => e != "run");
    }

    [Fact]
    public void ResumeRefusesADirectoryWithoutACompleteSet()
    {
        using var tmp = new TempDirectory();
        Assert.Contains("does not exist", Assert.Throws<IOException>(() => RunDirectory.Resume("test", tmp.File("none"))).Message);
        Assert.Contains("holds no Engine run", Assert.Throws<IOException>(() => RunDirectory.Resume("test", tmp.Path)).Message);
        using (RunDirectory.Create("test", tmp.File("run"), force: false)) { }
        Directory.CreateDirectory(Path.Combine(tmp.File("run"), "checkpoints", $".step-00000001.tmp-{Guid.NewGuid():N}"));
        Assert.Contains("holds no complete checkpoint set", Assert.Throws<IOException>(() => RunDirectory.Resume("test", tmp.File("run"))).Message);
        // The refusal still cleaned up the killed save's staging folder.
        Assert.Empty(Entries(Path.Combine(tmp.File("run"), "checkpoints")));
    }

    [Fact]
    public void ASetMustListEveryFileItHoldsAndHoldOnlyRegularFiles()
    {
        using var tmp = new TempDirectory();
        var store = new CheckpointStore(tmp.Path);
        var set = SaveText(store, 1, ("x", "one"));
        File.WriteAllText(set.File("extra"), "slipped in");
        Assert.Contains("does not list extra", Assert.Throws<CheckpointException>(() => set.Verify()).Message);
        File.Delete(set.File("extra"));
        File.Delete(set.File("x"));
        Directory.CreateDirectory(set.File("x"));
        Assert.Contains("is a directory", Assert.Throws<CheckpointException>(() => set.Verify()).Message);
        if (OperatingSystem.IsWindows()) return;
        Directory.Delete(set.File("x"));
        using (var fifo = System.Diagnostics.Process.Start("mkfifo", [set.File("x")])) fifo.WaitForExit();
        Assert.Contains("not a regular file", Assert.Throws<CheckpointException>(() => set.Verify()).Message);
    }

    [Fact]
    public void CleanUpTouchesOnlyTheNamesItsWritersUse()
    {
        using var tmp = new TempDirectory();
        File.WriteAllText(tmp.File(".notes.tmp"), "mine");
        Directory.CreateDirectory(tmp.File(".mydata.old-x"));
        File.WriteAllText(tmp.File($".loss.csv.{Guid.NewGuid():N}.tmp"), "leftover");
        Directory.CreateDirectory(tmp.File($".model.tmp-{Guid.NewGuid():N}"));
        Assert.Equal(2, AtomicDirectory.CleanUp(tmp.Path));
        Assert.Equal([".mydata.old-x", ".notes.tmp"], Entries(tmp.Path));
    }

    [Fact]
    public void ForceNeverDeletesFilesThatNoRunWrote()
    {
        using var tmp = new TempDirectory();
        string dir = tmp.File("run");
        using (RunDirectory.Create("test", dir, force: false)) { }
        File.WriteAllText(Path.Combine(dir, "thesis.tex"), "years of work");
        var e = Assert.Throws<IOException>(() => RunDirectory.Create("test", dir, force: true));
        Assert.Contains("thesis.tex", e.Message);
        Assert.Equal("years of work", File.ReadAllText(Path.Combine(dir, "thesis.tex")));
        // A directory with a checkpoints folder or a trainer state but no run marker is not a run at all.
        string fake = tmp.File("fake");
        Directory.CreateDirectory(Path.Combine(fake, "checkpoints"));
        File.WriteAllText(Path.Combine(fake, "run.json"), "{}");
        Assert.Contains("holds no Engine run", Assert.Throws<IOException>(() => RunDirectory.Create("test", fake, force: true)).Message);
        Assert.Contains("--out is empty", Assert.Throws<IOException>(() => RunDirectory.Create("test", "", force: true)).Message);
        // Nor does it delete the command's own inputs: a text kept inside the run, or the run itself as the model.
        File.Delete(Path.Combine(dir, "thesis.tex"));
        File.WriteAllText(Path.Combine(dir, "loss.csv"), "step\n");
        foreach (var input in new[] { Path.Combine(dir, "loss.csv"), dir, dir + "/" })
            Assert.Contains("is inside it",
                Assert.Throws<IOException>(() => RunDirectory.Create("test", dir, force: true, inputs: [input])).Message);
        Assert.True(File.Exists(Path.Combine(dir, "loss.csv")));
        Assert.False(RunDirectory.CheckCreate("test", tmp.File("elsewhere"), force: true, [Path.Combine(dir, "loss.csv")]));
    }

    [Fact]
    public void ForceLooksThroughSymbolicLinksAndIntoTheRunsFolders()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("symbolic links need privileges on Windows");
        using var tmp = new TempDirectory();
        string dir = tmp.File("run");
        using (var run = RunDirectory.Create("test", dir, force: false))
        {
            SaveText(run.Checkpoints, 1, ("x", "one"));
            run.ExportModel(d => File.WriteAllText(Path.Combine(d, "config.json"), "{}"));
        }
        // An input reached through a link into the run is inside it.
        File.WriteAllText(Path.Combine(dir, "model", "config.json"), "{}");
        File.CreateSymbolicLink(tmp.File("link"), dir);
        var inside = Assert.Throws<IOException>(() => RunDirectory.Create("test", dir, force: true, inputs: [tmp.File("link")]));
        Assert.Contains("is inside it", inside.Message);
        // Files no run writes, nested or disguised, are never deleted by --force.
        foreach (var stray in new[] { "model/notes.txt", "checkpoints/keep.txt", "checkpoints/step-00000001/extra.bin", ".env", "my-diagram.svg" })
        {
            string path = Path.Combine(dir, stray);
            File.WriteAllText(path, "mine");
            var e = Assert.Throws<IOException>(() => RunDirectory.Create("test", dir, force: true));
            Assert.Contains(stray, e.Message);
            File.Delete(path);
        }
        using (RunDirectory.Create("test", dir, force: true)) { }
        Assert.Empty(new CheckpointStore(dir).Sets);
    }

    [Fact]
    public void TheFinalModelIsReplacedAsAWhole()
    {
        using var tmp = new TempDirectory();
        using var run = RunDirectory.Create("test", tmp.File("run"), force: false);
        run.ExportModel(dir => File.WriteAllText(Path.Combine(dir, "a"), "1"));
        run.ExportModel(dir => File.WriteAllText(Path.Combine(dir, "b"), "2"));
        Assert.Equal(["b"], Entries(run.ModelDirectory));
        Assert.Throws<InvalidOperationException>(() => run.ExportModel(_ => throw new InvalidOperationException("fail")));
        Assert.Equal(["b"], Entries(run.ModelDirectory));
        Assert.Equal([".lock", "model", "run.json"], Entries(run.Path));
    }
}
