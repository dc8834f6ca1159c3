namespace Engine.Cli;

/// <summary>Checks a command's output directory before any work starts, so that a long run cannot end in an unwritable path.</summary>
static class OutputDirectory
{
    /// <summary>Creates <paramref name="dir"/> if needed and proves it writable; the error names the command and the path.</summary>
    public static void Prepare(string command, string dir)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new IOException($"{command}: --out is empty; give a directory");
        if (!Directory.Exists(dir) && InputFile.DescribeNonDirectory(dir) is { } what)
            throw new IOException($"{command}: --out '{dir}' {what}, not a directory");
        if (Engine.Model.Checkpoints.RunDirectory.HoldsRun(dir))
            throw new IOException($"{command}: --out '{dir}' holds a training run; write the experiment's results somewhere else");
        string probe = Path.Combine(dir, $".engine-write-test.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{command}: cannot write to --out '{dir}': {e.Message}", e);
        }
    }
}
