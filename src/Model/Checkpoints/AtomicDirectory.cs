namespace Engine.Model.Checkpoints;

/// <summary>
/// Publishes a directory of files in one rename: it is filled under a hidden staging name beside its target,
/// every file and the directory are flushed to disk, and only then does it take the target's name. A previous
/// directory of that name is moved aside first and deleted after. <see cref="CleanUp"/> removes what a kill in
/// between leaves, and puts back a previous directory whose replacement never arrived.
/// </summary>
public static class AtomicDirectory
{
    const string Staging = ".tmp-", Replaced = ".old-", Doomed = ".deleting-";

    /// <summary>Creates or replaces <paramref name="target"/> with the files <paramref name="fill"/> writes into the folder it is given.</summary>
    public static void Write(string target, Action<string> fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        target = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(target) ?? ".", name = Path.GetFileName(target);
        if (File.Exists(target)) throw new IOException($"cannot write the directory '{target}': a file of that name is in the way");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{name}{Staging}{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            fill(staging);
            foreach (var file in Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories)) AtomicFile.SyncFile(file);
            foreach (var dir in Directory.EnumerateDirectories(staging, "*", SearchOption.AllDirectories)) AtomicFile.SyncDirectory(dir);
            AtomicFile.SyncDirectory(staging);
            string? previous = null;
            if (Directory.Exists(target))
            {
                previous = Path.Combine(parent, $".{name}{Replaced}{Guid.NewGuid():N}");
                Directory.Move(target, previous);
            }
            Directory.Move(staging, target);
            AtomicFile.SyncDirectory(parent);
            if (previous is not null) TryDelete(previous);
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    /// <summary>Deletes <paramref name="directory"/> so that a kill midway leaves a hidden leftover, never a partial directory under its name.</summary>
    public static void Delete(string directory)
    {
        directory = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        if (!Directory.Exists(directory)) return;
        string doomed = Path.Combine(Path.GetDirectoryName(directory) ?? ".", $".{Path.GetFileName(directory)}{Doomed}{Guid.NewGuid():N}");
        Directory.Move(directory, doomed);
        TryDelete(doomed);
    }

    /// <summary>
    /// In <paramref name="parent"/>: removes staging and half-deleted directories and <see cref="AtomicFile"/>'s
    /// temporary files left by a killed process, and restores a replaced directory whose successor is missing.
    /// Returns how many leftovers were removed.
    /// </summary>
    public static int CleanUp(string parent)
    {
        if (!Directory.Exists(parent)) return 0;
        int removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(parent).ToList())
        {
            string name = Path.GetFileName(entry);
            if (!name.StartsWith('.')) continue;
            if (Directory.Exists(entry))
            {
                int replaced = name.IndexOf(Replaced, StringComparison.Ordinal);
                if (replaced > 1 && !Directory.Exists(Path.Combine(parent, name[1..replaced])))
                {
                    Directory.Move(entry, Path.Combine(parent, name[1..replaced]));
                    continue;
                }
                if (replaced > 1 || name.Contains(Staging, StringComparison.Ordinal) || name.Contains(Doomed, StringComparison.Ordinal))
                {
                    Directory.Delete(entry, recursive: true);
                    removed++;
                }
            }
            else if (name.EndsWith(AtomicFile.TempSuffix, StringComparison.Ordinal))
            {
                File.Delete(entry);
                removed++;
            }
        }
        if (removed > 0) AtomicFile.SyncDirectory(parent);
        return removed;
    }

    static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for CleanUp on the next start.
        }
    }
}
