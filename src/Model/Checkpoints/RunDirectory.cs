using System.Text.Json.Nodes;

namespace Engine.Model.Checkpoints;

/// <summary>
/// A training run's output directory: <c>run.json</c> says which command made it, <c>checkpoints/</c> holds its
/// checkpoint sets (<see cref="CheckpointStore"/>) and <c>model/</c> its final model. A new run never writes into
/// a directory that holds something else: an existing run is replaced only when asked (<c>--force</c>), in one
/// rename, and a directory that is not a run is never touched. While a run is open its directory is locked, so
/// two processes cannot mix their steps in one run.
/// </summary>
public sealed partial class RunDirectory : IDisposable
{
    /// <summary>The file that marks a directory as a run.</summary>
    public const string MarkerFileName = "run.json";

    /// <summary>The final model's folder.</summary>
    public const string ModelDirectoryName = "model";

    const string LockFileName = ".lock";
    const string LegacyStateFileName = "trainer_state.json";

    readonly FileStream _lock;

    RunDirectory(string command, string path, int keep)
    {
        Path = path;
        Command = command;
        _lock = Lock(command, path);
        Checkpoints = new CheckpointStore(path, keep);
    }

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>The command that opened it, for messages.</summary>
    public string Command { get; }

    /// <summary>The checkpoint sets.</summary>
    public CheckpointStore Checkpoints { get; }

    /// <summary>The final model's directory.</summary>
    public string ModelDirectory => System.IO.Path.Combine(Path, ModelDirectoryName);

    /// <summary>The path of a file at the top of the run directory.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Whether <paramref name="directory"/> holds an Engine run: a <c>run.json</c> that says so.</summary>
    public static bool HoldsRun(string directory) => ReadMarker(directory) is not null;

    /// <summary>The run marker of <paramref name="directory"/> (null when there is none, or it is not an Engine run's).</summary>
    static JsonObject? ReadMarker(string directory)
    {
        string marker = System.IO.Path.Combine(directory, MarkerFileName);
        if (!System.IO.File.Exists(marker) || new FileInfo(marker).Length > 1 << 16) return null;
        try
        {
            return JsonNode.Parse(System.IO.File.ReadAllText(marker)) is JsonObject json && (string?)json["format"] == "engine-run" ? json : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The names a run directory holds besides hidden leftovers: what the trainers write.</summary>
    static readonly string[] RunFiles = [MarkerFileName, LockFileName, "loss.csv", "loss.svg", "metrics.jsonl", "metrics.csv", "timing.csv",
        "reward.svg", "kl.svg", "tree.svg", "eval.svg"];

    /// <summary>What an exported model directory holds: the model and its tokenizer's files.</summary>
    static readonly string[] ModelFiles = [Gpt2Checkpoint.ConfigFileName, Gpt2Checkpoint.WeightsFileName, .. Tokenizers.Tokenizer.FileNames];

    /// <summary>
    /// Entries of a run directory that no Engine trainer wrote, as paths relative to it: replacing the run would delete
    /// them. Known are the run's own files, <c>model/</c> with a model's files, <c>checkpoints/</c> with step sets holding
    /// only what their manifests list, and the hidden leftovers of a killed save.
    /// </summary>
    static List<string> Foreign(string directory)
    {
        var foreign = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
        {
            string name = System.IO.Path.GetFileName(entry);
            bool isDirectory = Directory.Exists(entry) && new DirectoryInfo(entry).LinkTarget is null;
            if (AtomicDirectory.IsLeftover(name) || (!isDirectory && RunFiles.Contains(name))) continue;
            if (isDirectory && name == ModelDirectoryName)
                foreign.AddRange(Directory.EnumerateFileSystemEntries(entry).Select(e => System.IO.Path.GetFileName(e))
                    .Where(n => !ModelFiles.Contains(n) || Directory.Exists(System.IO.Path.Combine(entry, n))).Select(n => $"{name}/{n}"));
            else if (isDirectory && name == CheckpointStore.DirectoryName)
                foreign.AddRange(new CheckpointStore(directory).ForeignEntries().Select(n => $"{name}/{n}"));
            else foreign.Add(name);
        }
        return foreign;
    }

    /// <summary>
    /// Claims <paramref name="path"/> for a new run of <paramref name="command"/>. A new or empty directory is used
    /// as it is; one that holds a run is refused unless <paramref name="force"/>, and then moved aside in one rename
    /// and deleted; one that holds anything else is always refused. The directory is proved writable before any
    /// work starts.
    /// </summary>
    public static RunDirectory Create(string command, string path, bool force, int keep = 3, IEnumerable<string>? inputs = null)
    {
        string full = Full(command, path);
        AtomicDirectory.CleanUpDeleted(full);
        if (CheckCreate(command, path, force, inputs))
        {
            // Proves no other process has the run open, then replaces it in one rename.
            Lock(command, full).Dispose();
            AtomicDirectory.Delete(full);
        }
        Probe(command, path, full);
        var run = new RunDirectory(command, full, keep);
        AtomicFile.WriteText(run.File(MarkerFileName), new JsonObject
        {
            ["format"] = "engine-run",
            ["command"] = command,
            ["created"] = DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        }.ToJsonString() + "\n");
        return run;
    }

    /// <summary>
    /// Changes nothing, but throws what <see cref="Create"/> would refuse, so a command can check its output before
    /// any work. Returns whether <see cref="Create"/> will replace an existing run. Replacing is refused when one of the
    /// command's <paramref name="inputs"/> (its model, its data) lies inside the run it would delete.
    /// </summary>
    public static bool CheckCreate(string command, string path, bool force, IEnumerable<string>? inputs = null)
    {
        string full = Full(command, path);
        if (!Directory.Exists(full) || !Directory.EnumerateFileSystemEntries(full).Any(e => System.IO.Path.GetFileName(e) != LockFileName))
            return false;
        if (!HoldsRun(full))
            throw new IOException(
                $"{command}: --out '{path}' is not empty and holds no Engine run; refusing to write into it (choose a new or empty directory)");
        if (!force) throw new IOException($"{command}: --out '{path}' already holds a run; pass --resume to continue it, or --force to replace it");
        var foreign = Foreign(full);
        if (foreign.Count > 0)
            throw new IOException($"{command}: --out '{path}' holds a run, but also {string.Join(", ", foreign.Take(5))}" +
                $"{(foreign.Count > 5 ? $" and {foreign.Count - 5} more" : "")}, " +
                "which no Engine run writes; --force would delete them, so move them first");
        // Compared with every symbolic link resolved: an input reached through a link into the run is inside it too.
        string inside = Slashed(RealPath(full));
        foreach (var input in inputs ?? [])
            if (Slashed(RealPath(input)).StartsWith(inside, StringComparison.Ordinal)
                || Slashed(System.IO.Path.GetFullPath(input)).StartsWith(Slashed(full), StringComparison.Ordinal))
                throw new IOException($"{command}: --force would delete the run in '{path}', but '{input}', an input of this run, is inside it");
        return true;
    }

    static string Slashed(string path) => path.TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar;

    /// <summary><paramref name="path"/> absolute, with every symbolic link in it resolved (as it is, where it cannot be).</summary>
    static string RealPath(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (OperatingSystem.IsWindows()) return full;
        nint resolved = Realpath(full, 0);
        if (resolved == 0) return full;
        try
        {
            return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(resolved) ?? full;
        }
        finally
        {
            Free(resolved);
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "realpath",
        StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial nint Realpath(string path, nint resolved);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);

    /// <summary>The absolute path of an --out value; an empty one, a file, a dangling or looping link are errors naming it.</summary>
    static string Full(string command, string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new IOException($"{command}: --out is empty; give a directory");
        string full = System.IO.Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (info.LinkTarget is not null && !Directory.Exists(full) && !System.IO.File.Exists(full))
            throw new IOException($"{command}: --out '{path}' is a symbolic link to '{info.LinkTarget}', which does not exist or loops");
        if (!System.IO.Directory.Exists(full) && InputFile.DescribeNonDirectory(full) is { } what)
            throw new IOException($"{command}: --out '{path}' {what}, not a directory");
        return full;
    }

    /// <summary>
    /// Opens the run in <paramref name="path"/> to resume it: removes what a killed save left behind and returns it
    /// with its newest complete checkpoint set. Refuses, naming the directory or the file at fault, when there is
    /// no run, no complete set, or the newest set is damaged.
    /// </summary>
    public static (RunDirectory Run, CheckpointSet Latest) Resume(string command, string path, int keep = 3)
    {
        string full = Full(command, path);
        if (!Directory.Exists(full)) throw new IOException($"{command}: --resume, but '{path}' does not exist: there is no run to resume");
        if (!HoldsRun(full))
        {
            string legacy = System.IO.File.Exists(System.IO.Path.Combine(full, LegacyStateFileName))
                ? " (its trainer_state.json was written by an older Engine that saved its files one by one, so it cannot be resumed exactly)" : "";
            throw new IOException($"{command}: --resume, but '{path}' holds no Engine run{legacy}");
        }
        if (ReadMarker(full)?["command"] is JsonValue value && value.TryGetValue(out string? made) && made != command)
            throw new IOException($"{command}: --resume, but '{path}' holds a run of '{made}', not of '{command}'");
        foreach (var own in new[] { CheckpointStore.DirectoryName, ModelDirectoryName })
            if (new DirectoryInfo(System.IO.Path.Combine(full, own)).LinkTarget is { } target)
                throw new IOException($"{command}: '{path}/{own}' is a symbolic link to '{target}'; a run's folders must be its own");
        var run = new RunDirectory(command, full, keep);
        try
        {
            run.CleanUp();
            var latest = run.Checkpoints.Latest();
            if (latest is null)
            {
                throw new IOException($"{command}: --resume, but {run.Checkpoints.Root} holds no complete checkpoint set; " +
                    "start the run again with --force to replace it");
            }
            return (run, latest);
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>Removes leftovers of a killed save in the run directory and its checkpoints; returns how many.</summary>
    public int CleanUp() => AtomicDirectory.CleanUp(Path) + Checkpoints.CleanUp();

    /// <summary>Writes the final model into <c>model/</c>, replacing the previous one atomically.</summary>
    public void ExportModel(Action<string> write) => AtomicDirectory.Write(ModelDirectory, write);

    /// <summary>Releases the directory's lock.</summary>
    public void Dispose() => _lock.Dispose();

    static FileStream Lock(string command, string directory)
    {
        try
        {
            return new FileStream(System.IO.Path.Combine(directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"{command}: '{directory}' is in use by another process (its {LockFileName} is locked): {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"{command}: cannot write to '{directory}': {e.Message}", e);
        }
    }

    static void Probe(string command, string path, string full)
    {
        string probe = System.IO.Path.Combine(full, $".engine-write-test.{Guid.NewGuid():N}{AtomicFile.TempSuffix}");
        try
        {
            Directory.CreateDirectory(full);
            System.IO.File.WriteAllBytes(probe, []);
            System.IO.File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{command}: cannot write to --out '{path}': {e.Message}", e);
        }
    }
}
