using System.Text;
using System.Text.RegularExpressions;

namespace Engine.Tests.Packaging;

/// <summary>
/// The README and docs cannot drift: the package README shows README.md's snippet (which <see cref="PackageTests"/>
/// compiles and runs from the packages), every relative link resolves, and every "docs/FILE.md §n" cited in a comment
/// or a document names a section that exists.
/// </summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void ThePackageReadmeShowsTheReadmeSnippetAndItsOutput()
    {
        foreach (string language in new[] { "csharp", "" })
            Assert.Equal(RepositoryFiles.FencedBlock("README.md", "## Use it from C#", language),
                RepositoryFiles.FencedBlock("src/README.md", "## Example", language));
        string version = VersionPrefix().Match(File.ReadAllText(RepositoryFiles.PathOf("Directory.Build.props"))).Groups[1].Value;
        Assert.Contains($"<PackageReference Include=\"Engine.Rl\" Version=\"{version}\" />",
            File.ReadAllText(RepositoryFiles.PathOf("src/README.md")), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryRelativeLinkInTheDocsResolves()
    {
        var broken = new List<string>();
        foreach (string file in MarkdownFiles())
        {
            string text = File.ReadAllText(file);
            foreach (Match link in MarkdownLink().Matches(text))
            {
                string target = link.Groups[1].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                int hash = target.IndexOf('#');
                string path = hash < 0 ? target : target[..hash], anchor = hash < 0 ? "" : target[(hash + 1)..];
                string resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, path));
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                    broken.Add($"{Relative(file)}: {target} (no such file)");
                else if (anchor.Length > 0 && (!File.Exists(resolved) || !Anchors(resolved).Contains(anchor)))
                    broken.Add($"{Relative(file)}: {target} (no heading with that anchor)");
            }
        }
        Assert.True(broken.Count == 0, "broken links:\n" + string.Join('\n', broken));
        Assert.Contains(MarkdownFiles(), f => f.EndsWith("science.md", StringComparison.Ordinal));
    }

    [Fact]
    public void EverySectionThatCommentsAndDocsCiteExists()
    {
        var broken = new List<string>();
        // The repository never held the file the old comments cited; it is spelt in two parts so this file does not cite it.
        string missing = "PAPER" + ".md";
        foreach (string file in SourceAndDocFiles())
        {
            string text = File.ReadAllText(file);
            if (text.Contains(missing, StringComparison.Ordinal)) broken.Add($"{Relative(file)}: cites {missing}");
            foreach (Match cite in SectionCitation().Matches(text))
            {
                string doc = RepositoryFiles.PathOf(cite.Groups[1].Value);
                if (!File.Exists(doc)) broken.Add($"{Relative(file)}: {cite.Value} (no such file)");
                else if (!File.ReadLines(doc).Any(l => l.StartsWith($"## {cite.Groups[2].Value}. ", StringComparison.Ordinal)))
                    broken.Add($"{Relative(file)}: {cite.Value} (no section '## {cite.Groups[2].Value}.')");
            }
        }
        Assert.True(broken.Count == 0, "unresolved citations:\n" + string.Join('\n', broken));
    }

    static IEnumerable<string> MarkdownFiles()
    {
        foreach (string name in new[] { "README.md", "src/README.md" }) yield return RepositoryFiles.PathOf(name);
        foreach (string folder in new[] { "docs", "examples", "bench" })
            foreach (string file in Directory.EnumerateFiles(RepositoryFiles.PathOf(folder), "*.md", SearchOption.AllDirectories))
                if (!IsBuildOutput(file)) yield return file;
    }

    static IEnumerable<string> SourceAndDocFiles()
    {
        foreach (string file in MarkdownFiles()) yield return file;
        foreach (string folder in new[] { "src", "tests", "bench" })
            foreach (string file in Directory.EnumerateFiles(RepositoryFiles.PathOf(folder), "*.cs", SearchOption.AllDirectories))
                if (!IsBuildOutput(file)) yield return file;
    }

    static bool IsBuildOutput(string file)
    {
        string path = file.Replace('\\', '/');
        return path.Contains("/bin/", StringComparison.Ordinal) || path.Contains("/obj/", StringComparison.Ordinal);
    }

    /// <summary>The anchors GitHub gives the headings of <paramref name="file"/>: lower case, punctuation dropped, spaces as hyphens.</summary>
    static HashSet<string> Anchors(string file)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(file))
        {
            if (!line.StartsWith('#')) continue;
            string title = line.TrimStart('#').Trim().Replace("`", "", StringComparison.Ordinal);
            var slug = new StringBuilder();
            foreach (char c in title.ToLowerInvariant())
                if (char.IsLetterOrDigit(c) || c is '-' or '_') slug.Append(c);
                else if (c == ' ') slug.Append('-');
            string anchor = slug.ToString();
            for (int n = 1; !anchors.Add(anchor); n++) anchor = $"{slug}-{n}";
        }
        return anchors;
    }

    static string Relative(string file) => Path.GetRelativePath(RepositoryFiles.Root, file);

    /// <summary>An inline Markdown link or image: the target between the parentheses, without a title.</summary>
    [GeneratedRegex(@"\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex("<VersionPrefix>([^<]+)</VersionPrefix>")]
    private static partial Regex VersionPrefix();

    /// <summary>"docs/science.md §3": a document and the number of one of its "## 3. …" sections.</summary>
    [GeneratedRegex(@"(docs/[\w.-]+\.md) §(\d+)")]
    private static partial Regex SectionCitation();
}
