using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Rl.Rewards;

/// <summary>
/// One entry of a run config's <c>rewards</c> list, as its reward type's factory reads it. Every key must be read:
/// after the factory, a key no one asked for is an error listing the keys the type takes.
/// </summary>
public sealed class RewardSpec
{
    readonly JsonObject _json;
    readonly HashSet<string> _read = new(StringComparer.Ordinal) { "type", "weight" };

    /// <summary>The entry <paramref name="json"/>, described as <paramref name="where"/> in messages (the file and the index).</summary>
    public RewardSpec(JsonObject json, string where)
    {
        _json = json;
        Where = where;
    }

    /// <summary>Where the entry is, for messages.</summary>
    public string Where { get; }

    /// <summary>The string <paramref name="key"/>, or null when the entry has none.</summary>
    public string? String(string key)
    {
        _read.Add(key);
        var node = _json[key];
        if (node is null) return null;
        if (node.GetValueKind() != JsonValueKind.String)
            throw new ArgumentException($"{Where}: '{key}' must be a string, got {node.ToJsonString()}");
        return node.GetValue<string>();
    }

    /// <summary>The string <paramref name="key"/>, which must be present.</summary>
    public string RequireString(string key) => String(key) ?? throw new ArgumentException($"{Where}: needs '{key}'");

    /// <summary>
    /// The string <paramref name="key"/> when it names a field of the prompt records (or null when absent). A run checks
    /// that every record has the field before it starts.
    /// </summary>
    public string? Field(string key)
    {
        var name = String(key);
        if (name is not null) _fields.Add(name);
        return name;
    }

    readonly List<string> _fields = [];

    /// <summary>The prompt-record fields the reward reads (<see cref="Field"/>).</summary>
    public IReadOnlyList<string> RecordFields => _fields;

    internal void RejectUnread(string type)
    {
        var unknown = _json.Select(p => p.Key).Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"{Where}: unknown key{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => $"'{k}'"))} " +
                $"for a reward of type '{type}'; it takes {string.Join(", ", _read.Order(StringComparer.Ordinal).Select(k => $"'{k}'"))}");
    }
}

/// <summary>
/// The reward types a run config can name, by their <c>type</c>: the built-in text rewards, and any a program adds
/// with <see cref="Register"/> before it loads a config.
/// </summary>
public static class RewardTypes
{
    static readonly Dictionary<string, Func<RewardSpec, IRewardFunction>> s_factories = new(StringComparer.Ordinal)
    {
        ["exact"] = spec => TextRewards.Exact(spec.Field("field") ?? throw new ArgumentException($"{spec.Where}: needs 'field'")),
        ["contains"] = spec =>
        {
            string? field = spec.Field("field"), text = spec.String("text");
            if ((field is null) == (text is null))
                throw new ArgumentException($"{spec.Where}: a 'contains' reward needs exactly one of 'field' and 'text'");
            return TextRewards.Contains(field, text);
        },
        ["regex"] = spec =>
        {
            string pattern = spec.RequireString("pattern");
            try
            {
                return TextRewards.Regex(pattern);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{spec.Where}: 'pattern' is not a valid regular expression: {e.Message}", e);
            }
        },
        ["count"] = spec =>
        {
            string text = spec.RequireString("text");
            return text.Length > 0 ? TextRewards.Count(text) : throw new ArgumentException($"{spec.Where}: 'text' must not be empty");
        },
    };

    static readonly Lock s_lock = new();

    /// <summary>The type names known now.</summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            lock (s_lock) return [.. s_factories.Keys.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Adds (or replaces) the reward type <paramref name="type"/>, made from a config entry by <paramref name="factory"/>.</summary>
    public static void Register(string type, Func<RewardSpec, IRewardFunction> factory)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentNullException.ThrowIfNull(factory);
        lock (s_lock) s_factories[type] = factory;
    }

    /// <summary>The reward function of <paramref name="spec"/>, whose type is <paramref name="type"/>.</summary>
    public static IRewardFunction Create(string type, RewardSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Func<RewardSpec, IRewardFunction>? factory;
        lock (s_lock) s_factories.TryGetValue(type, out factory);
        if (factory is null) throw new ArgumentException($"{spec.Where}: unknown reward type '{type}'; known: {string.Join(", ", Names)}");
        var reward = factory(spec);
        spec.RejectUnread(type);
        return reward;
    }
}
