using System.Text.RegularExpressions;

namespace Engine.Tests.Packaging;

/// <summary>The repository the tests were built from, and the fenced blocks of its Markdown files.</summary>
static partial class RepositoryFiles
{
    static readonly string? s_root = FindRoot();

    /// <summary>
    /// The folder that holds Engine.sln, found above the test binaries. A published copy of the tests (for a GPU machine,
    /// or Arm64 under qemu) has none, and a test that reads the repository is skipped there.
    /// </summary>
    public static string Root
    {
        get
        {
            if (s_root is null) Assert.Skip($"no Engine.sln above {AppContext.BaseDirectory}: a published copy of the tests");
            return s_root;
        }
    }

    /// <summary>The build configuration the tests (and so the libraries beside them) were built in: Release or Debug.</summary>
    public static string Configuration { get; } = FindConfiguration();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>
    /// The body of the first fenced block whose info string is <paramref name="language"/> ("" for a bare fence), after the
    /// first heading of <paramref name="markdownFile"/> equal to <paramref name="heading"/> and before the next "## " heading.
    /// </summary>
    public static string FencedBlock(string markdownFile, string heading, string language)
    {
        string[] lines = File.ReadAllText(PathOf(markdownFile)).ReplaceLineEndings("\n").Split('\n');
        int at = Array.FindIndex(lines, l => l.TrimEnd() == heading);
        if (at < 0) throw new InvalidOperationException($"{markdownFile}: no heading '{heading}'");
        var fences = Fences(lines, at + 1).Where(f => f.Language == language).ToList();
        if (fences.Count == 0) throw new InvalidOperationException($"{markdownFile}: no ```{language} block under '{heading}'");
        return fences[0].Body;
    }

    /// <summary>Every fenced block of <paramref name="markdownFile"/> whose info string is <paramref name="language"/>, in order.</summary>
    public static IReadOnlyList<string> FencedBlocks(string markdownFile, string language)
    {
        string[] lines = File.ReadAllText(PathOf(markdownFile)).ReplaceLineEndings("\n").Split('\n');
        return [.. Fences(lines, 0, wholeFile: true).Where(f => f.Language == language).Select(f => f.Body)];
    }

    static IEnumerable<(string Language, string Body)> Fences(string[] lines, int from, bool wholeFile = false)
    {
        for (int i = from; i < lines.Length; i++)
        {
            if (!wholeFile && lines[i].StartsWith("## ", StringComparison.Ordinal)) yield break;
            if (!lines[i].StartsWith("```", StringComparison.Ordinal)) continue;
            string language = lines[i][3..].Trim();
            int end = Array.FindIndex(lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
            if (end < 0) throw new InvalidOperationException($"an unclosed ``` block at line {i + 1}");
            yield return (language, string.Join('\n', lines[(i + 1)..end]) + "\n");
            i = end;
        }
    }

    static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
        return null;
    }

    static string FindConfiguration()
    {
        var match = ConfigurationSegment().Match(AppContext.BaseDirectory.Replace('\\', '/'));
        return match.Success ? match.Groups[1].Value : "Release";
    }

    [GeneratedRegex("/bin/([^/]+)/net")]
    private static partial Regex ConfigurationSegment();
}
