using System.Text.RegularExpressions;

namespace Engine.Model.Checkpoints;

/// <summary>
/// Publishes a directory of files in one rename: it is filled under a hidden staging name beside its target,
/// every file and the directory are flushed to disk, and only then does it take the target's name. A previous
/// directory of that name is moved aside first and deleted after. <see cref="CleanUp"/> removes what a kill in
/// between leaves, and puts back a previous directory whose replacement never arrived.
/// </summary>
public static partial class AtomicDirectory
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
            Publish(staging, target, parent, name);
        }
        catch (UnauthorizedAccessException e)
        {
            TryDelete(staging);
            throw new IOException($"cannot write '{target}': {e.Message}", e);
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    static void Publish(string staging, string target, string parent, string name)
    {
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

    /// <summary>
    /// Deletes <paramref name="directory"/> so that a kill midway leaves a hidden leftover, never a partial directory under its name.
    /// </summary>
    public static void Delete(string directory)
    {
        directory = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        if (!Directory.Exists(directory)) return;
        string doomed = Path.Combine(Path.GetDirectoryName(directory) ?? ".", $".{Path.GetFileName(directory)}{Doomed}{Guid.NewGuid():N}");
        try
        {
            Directory.Move(directory, doomed);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot delete '{directory}': {e.Message}", e);
        }
        TryDelete(doomed);
    }

    /// <summary>
    /// In <paramref name="parent"/>: removes staging and half-deleted directories and <see cref="AtomicFile"/>'s
    /// temporary files left by a killed process, and restores a replaced directory whose successor is missing.
    /// Only names of the exact forms these writers use (a 32-digit hexadecimal id) are touched, so a user's own
    /// <c>.notes.tmp</c> survives. Returns how many leftovers were removed.
    /// </summary>
    public static int CleanUp(string parent)
    {
        if (!Directory.Exists(parent)) return 0;
        int removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(parent).ToList())
        {
            var leftover = Leftover().Match(Path.GetFileName(entry));
            if (leftover.Success && Directory.Exists(entry) && new DirectoryInfo(entry).LinkTarget is null)
            {
                string original = Path.Combine(parent, leftover.Groups["name"].Value);
                if (leftover.Groups["kind"].Value == Replaced && !Directory.Exists(original) && !File.Exists(original))
                {
                    Directory.Move(entry, original);
                    continue;
                }
                Directory.Delete(entry, recursive: true);
                removed++;
            }
            else if (!leftover.Success && TempFile().IsMatch(Path.GetFileName(entry)) && File.Exists(entry))
            {
                File.Delete(entry);
                removed++;
            }
        }
        if (removed > 0) AtomicFile.SyncDirectory(parent);
        return removed;
    }

    /// <summary>Whether <paramref name="name"/> is one of the hidden names this class and <see cref="AtomicFile"/> write.</summary>
    public static bool IsLeftover(string name) => Leftover().IsMatch(name) || TempFile().IsMatch(name);

    /// <summary>Removes the half-deleted copies of <paramref name="directory"/> that a killed <see cref="Delete"/> left beside it.</summary>
    public static int CleanUpDeleted(string directory)
    {
        directory = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(directory) ?? ".", name = Path.GetFileName(directory);
        int removed = 0;
        if (!Directory.Exists(parent)) return 0;
        foreach (var entry in Directory.EnumerateDirectories(parent, $".{name}{Doomed}*"))
            if (Leftover().Match(Path.GetFileName(entry)) is { Success: true } m && m.Groups["name"].Value == name
                && m.Groups["kind"].Value == Doomed)
            {
                TryDelete(entry);
                removed++;
            }
        return removed;
    }

    [GeneratedRegex(@"^\.(?<name>.+)(?<kind>\.tmp-|\.old-|\.deleting-)[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex Leftover();

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TempFile();

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
