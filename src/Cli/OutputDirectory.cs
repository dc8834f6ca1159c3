namespace Engine.Cli;

/// <summary>Checks a command's output directory before any work starts, so that a long run cannot end in an unwritable path.</summary>
static class OutputDirectory
{
    /// <summary>Creates <paramref name="dir"/> if needed and proves it writable; the error names the command and the path.</summary>
    public static void Prepare(string command, string dir)
    {
        if (File.Exists(dir)) throw new IOException($"{command}: --out '{dir}' is a file, not a directory");
        string probe = Path.Combine(dir, $".engine-write-test-{Guid.NewGuid():N}");
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
