using System.Diagnostics;
using Engine.Model.Checkpoints;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// `engine train-lm` checkpointing every step is killed (SIGKILL) at seeded random moments, and on a file system
/// too small for its checkpoints. Each time, every set on disk must verify, and resuming from the newest must end
/// with the bytes of a run that was never interrupted.
/// </summary>
public sealed class CheckpointKillTests
{
    const int Steps = 6;

    static string[] Train(string text, string output, params string[] extra) =>
        ["train-lm", "--text", text, "--steps", $"{Steps}", "--batch", "2", "--seed", "7", "--checkpoint-every", "1", "--keep-checkpoints", "3",
         "--out", output, .. extra];

    static string Text(TempDirectory dir)
    {
        string text = dir.File("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 300).Select(i => $"the cat {i % 7} sat on mat {i % 5}. ")));
        return text;
    }

    static string[] LossColumns(string run) =>
        [.. File.ReadAllLines(Path.Combine(run, "loss.csv")).Select(l => string.Join(',', l.Split(',')[..5]))];

    static (byte[] Model, string[] Loss) Uninterrupted(TempDirectory dir, string text)
    {
        string reference = dir.File("reference");
        var (exit, log) = ChildProcess.Run("engine", Train(text, reference), [], timeoutSeconds: 300);
        Assert.True(exit == 0, log);
        return (File.ReadAllBytes(Path.Combine(reference, "model", "model.safetensors")), LossColumns(reference));
    }

    static void AssertEverySetVerifies(string run)
    {
        foreach (var set in new CheckpointStore(run).Sets) set.Verify();
    }

    [Fact]
    public async Task AKilledRunAlwaysLeavesACompleteSetThatResumesBitExactly()
    {
        using var dir = new TempDirectory();
        string text = Text(dir);
        var (model, loss) = Uninterrupted(dir, text);
        var random = new System.Random(20261201);
        int resumedFromASet = 0;
        for (int trial = 0; trial < 5; trial++)
        {
            string run = dir.File($"run{trial}");
            int delay = random.Next(400, 1800);
            using (var process = ChildProcess.Start("engine", Train(text, run), []))
            {
                var token = TestContext.Current.CancellationToken;
                var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(token), process.StandardError.ReadToEndAsync(token));
                if (!process.WaitForExit(delay)) process.Kill();
                await process.WaitForExitAsync(token);
                await drain;
            }
            AssertEverySetVerifies(run);
            bool hasSet = new CheckpointStore(run).Sets.Count > 0;
            var (exit, log) = ChildProcess.Run("engine", Train(text, run, hasSet ? "--resume" : "--force"), [], timeoutSeconds: 300);
            Assert.True(exit == 0, $"trial {trial} (killed after {delay} ms): {log}");
            if (hasSet) resumedFromASet++;
            Assert.True(model.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run, "model", "model.safetensors"))),
                $"trial {trial}: model differs");
            Assert.Equal(loss, LossColumns(run));
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.Combine(run, "checkpoints")), e => Path.GetFileName(e).StartsWith('.'));
        }
        Assert.True(resumedFromASet >= 2,
            $"only {resumedFromASet} of 5 kills came after the first checkpoint; the delays are too short for this machine");
    }

    [Fact]
    public void AFullDiskStopsTheRunWithTheLastCompleteSetIntact()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") Assert.Skip("mounting a tiny tmpfs needs root on Linux");
        using var dir = new TempDirectory();
        string text = Text(dir);
        var (model, loss) = Uninterrupted(dir, text);
        string disk = dir.File("disk");
        Directory.CreateDirectory(disk);
        // One set of the tiny model is about 10 MB: 14 MB holds the first and runs out while writing the second.
        using (var mount = Process.Start("mount", ["-t", "tmpfs", "-o", "size=14m", "tmpfs", disk]))
        {
            mount.WaitForExit();
            if (mount.ExitCode != 0) Assert.Skip("this machine does not allow mounting a tmpfs");
        }
        try
        {
            string run = Path.Combine(disk, "run");
            var (exit, log) = ChildProcess.Run("engine", Train(text, run), [], timeoutSeconds: 300);
            Assert.Equal(1, exit);
            Assert.Contains("saving step 2", log);
            Assert.Contains("No space left on device", log);
            Assert.Contains("the newest complete set is still step 1", log);
            Assert.DoesNotContain("   at ", log);
            Assert.Equal([1], new CheckpointStore(run).Sets.Select(s => s.Step).ToArray());
            AssertEverySetVerifies(run);
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.Combine(run, "checkpoints")), e => Path.GetFileName(e).StartsWith('.'));

            // Moved to a disk with room, the run resumes from step 1 and ends as if it had never stopped.
            string roomy = dir.File("moved");
            CopyDirectory(run, roomy);
            (exit, log) = ChildProcess.Run("engine", Train(text, roomy, "--resume"), [], timeoutSeconds: 300);
            Assert.True(exit == 0, log);
            Assert.Contains("resuming", log);
            Assert.True(model.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(roomy, "model", "model.safetensors"))));
            Assert.Equal(loss, LossColumns(roomy));
        }
        finally
        {
            using var umount = Process.Start("umount", [disk]);
            umount.WaitForExit();
        }
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
