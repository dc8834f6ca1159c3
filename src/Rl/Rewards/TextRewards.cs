using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Engine.Rl.Rewards;

/// <summary>
/// A prompt and the other fields of its line in a JSONL file; rewards read the fields (an expected answer, a
/// keyword). <see cref="Source"/> names the file and line for messages.
/// </summary>
public sealed record PromptRecord(string Prompt, JsonObject Fields, string Source)
{
    /// <summary>The text of field <paramref name="name"/>: a string as it is, a number or boolean as its JSON text.</summary>
    public string Field(string name)
    {
        var node = Fields[name] ?? throw new ArgumentException($"{Source}: has no field '{name}'");
        return node is JsonValue v && v.TryGetValue(out string? text) ? text : node.ToJsonString();
    }
}

/// <summary>The built-in text rewards of <c>engine grpo run</c>; each reads the completion's text (stop strings removed).</summary>
public static class TextRewards
{
    /// <summary>1 if the trimmed completion equals the record's <paramref name="field"/> (trimmed too), else 0.</summary>
    public static IRewardFunction Exact(string field) =>
        new DelegateReward($"exact({field})", input => Text(input).Trim() == Record(input).Field(field).Trim() ? 1f : 0f);

    /// <summary>1 if the completion holds the record's <paramref name="field"/>, or the literal <paramref name="text"/>, else 0.</summary>
    public static IRewardFunction Contains(string? field, string? text) =>
        field is not null
            ? new DelegateReward($"contains({field})", input => Text(input).Contains(Record(input).Field(field), StringComparison.Ordinal) ? 1f : 0f)
            : new DelegateReward($"contains(\"{text}\")", input => Text(input).Contains(text!, StringComparison.Ordinal) ? 1f : 0f);

    /// <summary>1 if <paramref name="pattern"/> matches somewhere in the completion, else 0. A match that runs past a second is an error.</summary>
    public static IRewardFunction Regex(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        return new DelegateReward($"regex(/{pattern}/)", input => regex.IsMatch(Text(input)) ? 1f : 0f);
    }

    /// <summary>The number of non-overlapping occurrences of <paramref name="text"/> in the completion.</summary>
    public static IRewardFunction Count(string text)
    {
        if (text.Length == 0) throw new ArgumentException("count reward: 'text' must not be empty");
        return new DelegateReward($"count(\"{text}\")", input =>
        {
            string s = Text(input);
            int n = 0;
            for (int at = s.IndexOf(text, StringComparison.Ordinal); at >= 0; at = s.IndexOf(text, at + text.Length, StringComparison.Ordinal)) n++;
            return n;
        });
    }

    static string Text(RewardInput input) =>
        input.Text ?? throw new InvalidOperationException("text rewards need a tokenizer to decode the completion");

    static PromptRecord Record(RewardInput input) =>
        input.TaskData as PromptRecord ?? throw new InvalidOperationException("this reward reads the prompt's fields, but the prompt has no record");
}
