namespace Engine.Tests.Packaging;

/// <summary>The house style that a reader notices first: no C# line of 150 characters or more (STYLE.md).</summary>
public sealed class StyleTests
{
    const int Limit = 150;

    [Fact]
    public void NoCSharpLineReaches150Characters()
    {
        var tooLong = new List<string>();
        foreach (string folder in new[] { "src", "tests", "bench", "examples" })
        {
            string root = RepositoryFiles.PathOf(folder);
            if (!Directory.Exists(root)) continue;
            foreach (string file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(RepositoryFiles.Root, file).Replace('\\', '/');
                if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)) continue;
                string[] lines = File.ReadAllText(file).ReplaceLineEndings("\n").Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    if (new System.Globalization.StringInfo(lines[i]).LengthInTextElements >= Limit)
                        tooLong.Add($"{relative}:{i + 1} ({lines[i].Length} characters)");
            }
        }
        Assert.True(tooLong.Count == 0, $"{tooLong.Count} lines of {Limit}+ characters:\n" + string.Join('\n', tooLong));
    }
}
