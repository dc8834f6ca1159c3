using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Model.Checkpoints;

/// <summary>
/// The checkpoint sets of a run: <c>RUN/checkpoints/step-00000012/</c>, one directory per saved step, holding
/// every file a trainer needs to resume (model, optimizer, trainer state, logs) and a <c>manifest.json</c> with
/// each file's size and SHA-256. A set is written into a hidden staging directory, flushed to disk file by
/// file, given its manifest last, and becomes visible in one rename; so a kill or a full disk leaves either
/// the new set or none, never a mix. The newest <see cref="Keep"/> sets are kept.
/// </summary>
public sealed class CheckpointStore
{
    /// <summary>The folder of the sets inside a run directory.</summary>
    public const string DirectoryName = "checkpoints";

    /// <summary>The file each set lists its other files in; written last.</summary>
    public const string ManifestFileName = "manifest.json";

    const string SetPrefix = "step-";
    const string ManifestFormat = "engine-checkpoint-set";

    /// <summary>The store of the run in <paramref name="runDirectory"/>, keeping the newest <paramref name="keep"/> sets.</summary>
    public CheckpointStore(string runDirectory, int keep = 3)
    {
        ArgumentNullException.ThrowIfNull(runDirectory);
        if (keep < 1) throw new ArgumentException($"checkpoints: keep must be at least 1, got {keep}");
        Root = Path.Combine(runDirectory, DirectoryName);
        Keep = keep;
    }

    /// <summary>The folder holding the sets.</summary>
    public string Root { get; }

    /// <summary>How many sets are kept (at least 1: the newest complete set is never deleted).</summary>
    public int Keep { get; }

    /// <summary>The sets on disk, oldest first, by their directory names alone (<see cref="CheckpointSet.Verify"/> checks one).</summary>
    public IReadOnlyList<CheckpointSet> Sets
    {
        get
        {
            if (!Directory.Exists(Root)) return [];
            var sets = new List<CheckpointSet>();
            foreach (var dir in Directory.EnumerateDirectories(Root))
                if (ParseStep(Path.GetFileName(dir)) is { } step) sets.Add(new CheckpointSet(step, dir));
            return [.. sets.OrderBy(s => s.Step)];
        }
    }

    /// <summary>
    /// Entries under <see cref="Root"/> that no save wrote, relative to it: anything but step sets and hidden leftovers, and in
    /// a set anything its manifest does not list.
    /// </summary>
    internal IEnumerable<string> ForeignEntries()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var entry in Directory.EnumerateFileSystemEntries(Root))
        {
            string name = Path.GetFileName(entry);
            if (AtomicDirectory.IsLeftover(name)) continue;
            if (ParseStep(name) is null || !Directory.Exists(entry))
            {
                yield return name;
                continue;
            }
            var listed = new CheckpointSet(ParseStep(name)!.Value, entry).ListedFiles();
            foreach (var file in Directory.EnumerateFileSystemEntries(entry).Select(e => Path.GetFileName(e)))
                if (file != ManifestFileName && !listed.Contains(file)) yield return $"{name}/{file}";
        }
    }

    /// <summary>Removes what a killed save or prune left behind (see <see cref="AtomicDirectory.CleanUp"/>); returns how many leftovers.</summary>
    public int CleanUp() => AtomicDirectory.CleanUp(Root);

    /// <summary>
    /// Saves the set of <paramref name="step"/>: <paramref name="write"/> fills the staging directory it is given
    /// with files (no subfolders); they are flushed, listed in the manifest, and the set appears in one rename.
    /// Older sets beyond <see cref="Keep"/> are then deleted. On any failure the staging directory is removed and
    /// the sets already on disk are untouched.
    /// </summary>
    public CheckpointSet Save(int step, Action<string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (step < 0) throw new ArgumentException($"checkpoints: step must be ≥ 0, got {step}");
        string target = Path.Combine(Root, SetName(step));
        try
        {
            Publish(step, target, write);
        }
        catch (IOException e)
        {
            var newest = Sets.Count > 0 ? $"the newest complete set is still step {Sets[^1].Step}" : "no set has been saved yet";
            throw new IOException($"checkpoints: saving step {step} in {Root} failed ({e.Message}); nothing was changed, {newest}", e);
        }
        Prune();
        return new CheckpointSet(step, target);
    }

    static void Publish(int step, string target, Action<string> write) =>
        AtomicDirectory.Write(target, staging =>
        {
            write(staging);
            if (Directory.EnumerateDirectories(staging).Any())
                throw new InvalidOperationException("checkpoints: a set holds files only, not folders");
            var files = new JsonObject();
            foreach (var file in Directory.EnumerateFiles(staging).Order(StringComparer.Ordinal))
            {
                var (bytes, sha) = Hash(file);
                files[Path.GetFileName(file)] = new JsonObject { ["bytes"] = bytes, ["sha256"] = sha };
            }
            var manifest = new JsonObject { ["format"] = ManifestFormat, ["version"] = 1, ["step"] = step, ["files"] = files };
            File.WriteAllText(Path.Combine(staging, ManifestFileName),
                manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        });

    /// <summary>
    /// The newest set, verified against its manifest; null when there is none. A newest set that fails
    /// verification is an error naming the file at fault (and the newest older set that is intact), because
    /// resuming from an older one without being asked would silently lose steps.
    /// </summary>
    public CheckpointSet? Latest()
    {
        var sets = Sets;
        if (sets.Count == 0) return null;
        var newest = sets[^1];
        try
        {
            newest.Verify();
            return newest;
        }
        catch (CheckpointException e)
        {
            var intact = sets.Take(sets.Count - 1).Reverse().FirstOrDefault(s => s.IsIntact());
            string hint = intact is null ? "no older set is intact"
                : $"the newest intact set is step {intact.Step}: delete {newest.Directory} to resume from it";
            throw new CheckpointException($"{e.Message}; refusing to resume from a damaged set ({hint})", e);
        }
    }

    void Prune()
    {
        var sets = Sets;
        foreach (var old in sets.Take(Math.Max(0, sets.Count - Keep))) AtomicDirectory.Delete(old.Directory);
    }

    internal static (long Bytes, string Sha256) Hash(string path)
    {
        using var stream = InputFile.OpenRead(path, "checkpoint file");
        return (stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    static string SetName(int step) => SetPrefix + step.ToString("D8", CultureInfo.InvariantCulture);

    static int? ParseStep(string name) =>
        name.StartsWith(SetPrefix, StringComparison.Ordinal) && name.Length > SetPrefix.Length
            && int.TryParse(name.AsSpan(SetPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int step) ? step : null;

    internal static string Format => ManifestFormat;
}

/// <summary>One saved step of a run: a directory of files listed, with sizes and checksums, in its manifest.</summary>
public sealed class CheckpointSet(int step, string directory)
{
    /// <summary>The step the set was saved after.</summary>
    public int Step { get; } = step;

    /// <summary>The set's directory.</summary>
    public string Directory { get; } = directory;

    /// <summary>The path of <paramref name="file"/> in the set.</summary>
    public string File(string file) => Path.Combine(Directory, file);

    /// <summary>
    /// Checks the set against its manifest: every listed file present, with its size and SHA-256. Throws
    /// <see cref="CheckpointException"/> naming the file that is missing, truncated or changed.
    /// </summary>
    public void Verify()
    {
        string manifestPath = File(CheckpointStore.ManifestFileName);
        if (!System.IO.File.Exists(manifestPath))
            throw new CheckpointException($"checkpoint set {Directory}: {CheckpointStore.ManifestFileName} is missing (not a complete set)");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(InputFile.ReadAllText(manifestPath, "checkpoint manifest"), documentOptions: InputFile.StrictJson());
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"checkpoint manifest {manifestPath}: not valid JSON: {e.Message}", e);
        }
        if (root is not JsonObject manifest || manifest["format"]?.GetValueKind() != JsonValueKind.String
            || (string?)manifest["format"] != CheckpointStore.Format || manifest["files"] is not JsonObject files)
            throw new CheckpointException(
                $"checkpoint manifest {manifestPath}: not a manifest of format \"{CheckpointStore.Format}\" with a 'files' object");
        if (manifest["step"] is not JsonValue s || !s.TryGetValue(out int step) || step != Step)
            throw new CheckpointException($"checkpoint manifest {manifestPath}: 'step' is {manifest["step"]?.ToJsonString() ?? "missing"}, " +
                $"but the set is named for step {Step}");
        var unlisted = System.IO.Directory.EnumerateFileSystemEntries(Directory).Select(e => Path.GetFileName(e))
            .Where(n => n != CheckpointStore.ManifestFileName && !files.ContainsKey(n)).ToList();
        if (unlisted.Count > 0)
            throw new CheckpointException($"checkpoint manifest {manifestPath}: does not list {string.Join(", ", unlisted.Take(5))} " +
                "(the set was changed after it was saved)");
        foreach (var (name, entry) in files)
        {
            string path = File(name);
            if (name.Contains('/') || name.Contains('\\') || name == ".." || entry is not JsonObject e
                || e["bytes"] is not JsonValue b || !b.TryGetValue(out long bytes)
                || e["sha256"] is not JsonValue h || !h.TryGetValue(out string? sha))
                throw new CheckpointException($"checkpoint manifest {manifestPath}: the entry of '{name}' is malformed");
            if (!System.IO.File.Exists(path) && !System.IO.Directory.Exists(path))
                throw new CheckpointException($"checkpoint set {Directory}: {name} is missing");
            try
            {
                InputFile.Check(path, $"checkpoint set {Directory}: {name}");
            }
            catch (IOException notRegular)
            {
                throw new CheckpointException(notRegular.Message, notRegular);
            }
            var (actualBytes, actualSha) = CheckpointStore.Hash(path);
            if (actualBytes != bytes)
                throw new CheckpointException(
                    $"checkpoint set {Directory}: {name} has {actualBytes} bytes, but the manifest says {bytes} (truncated or replaced)");
            if (!string.Equals(actualSha, sha, StringComparison.OrdinalIgnoreCase))
                throw new CheckpointException(
                    $"checkpoint set {Directory}: {name} does not match its SHA-256 in the manifest (the file was changed)");
        }
    }

    /// <summary>The file names the manifest lists (none when it is missing or unreadable).</summary>
    internal HashSet<string> ListedFiles()
    {
        try
        {
            var files = JsonNode.Parse(System.IO.File.ReadAllText(File(CheckpointStore.ManifestFileName)))?["files"] as JsonObject;
            return files is null ? [] : [.. files.Select(f => f.Key)];
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return [];
        }
    }

    /// <summary>Whether <see cref="Verify"/> passes.</summary>
    public bool IsIntact()
    {
        try
        {
            Verify();
            return true;
        }
        catch (CheckpointException)
        {
            return false;
        }
    }
}
