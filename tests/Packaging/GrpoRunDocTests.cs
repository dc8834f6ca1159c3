using System.Globalization;
using System.Reflection;
using Engine.Rl.Runs;
using Engine.Tests.Support;

namespace Engine.Tests.Packaging;

/// <summary>docs/grpo-run.md's config tables list every key of <see cref="GrpoRunConfig"/>, and only those, with its real default.</summary>
public sealed class GrpoRunDocTests
{
    [Fact]
    public void TheConfigReferenceListsEveryKeyWithItsDefault()
    {
        var rows = ConfigRows();
        Assert.Equal(GrpoRunConfig.Keys.Order(StringComparer.Ordinal), rows.Keys.Order(StringComparer.Ordinal));

        using var dir = new TempDirectory();
        string file = dir.File("minimal.json");
        File.WriteAllText(file, """{"model": "m", "prompts": "p.jsonl", "rewards": [{"type": "count", "text": "a"}]}""");
        var config = GrpoRunConfig.Load(file);
        foreach (var (key, documented) in rows)
        {
            if (documented == "(required)") continue;
            string property = string.Concat(key.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
            object? actual = typeof(GrpoRunConfig).GetProperty(property, BindingFlags.Public | BindingFlags.Instance)!.GetValue(config);
            Assert.True(Matches(documented, actual), $"docs/grpo-run.md gives `{key}` the default {documented}; the config has {Show(actual)}");
        }
    }

    /// <summary>Each documented default against the loaded value: numbers as float32, choices and enums by name.</summary>
    static bool Matches(string documented, object? actual)
    {
        string text = documented.Trim('`', '"');
        return actual switch
        {
            null => text == "none",
            bool b => text == (b ? "true" : "false"),
            int i => text == i.ToString(CultureInfo.InvariantCulture),
            float f => float.Parse(text, CultureInfo.InvariantCulture).Equals(f),
            string s => text == s,
            Enum e => text.Replace("-", "", StringComparison.Ordinal).Equals(e.ToString(), StringComparison.OrdinalIgnoreCase),
            IReadOnlyList<string> list => text == "[]" && list.Count == 0,
            _ => false,
        };
    }

    static string Show(object? value) => value switch
    {
        null => "null",
        IReadOnlyList<string> list => $"[{string.Join(", ", list)}]",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>The key and default columns of the tables under "## The config" and before "### Rewards".</summary>
    static Dictionary<string, string> ConfigRows()
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        bool inConfig = false;
        foreach (string line in File.ReadLines(RepositoryFiles.PathOf("docs/grpo-run.md")))
        {
            if (line.StartsWith("## The config", StringComparison.Ordinal)) inConfig = true;
            else if (line.StartsWith("### Rewards", StringComparison.Ordinal)) break;
            if (!inConfig || !line.StartsWith("| `", StringComparison.Ordinal)) continue;
            string[] cells = line.Split('|');
            rows.Add(cells[1].Trim().Trim('`'), cells[3].Trim());
        }
        return rows;
    }
}
