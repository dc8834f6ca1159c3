using System.Globalization;

namespace Engine.Cli;

/// <summary>
/// The command line after the command words: <c>--name value</c> options, <c>--flag</c> switches and
/// positional values. Every option must be consumed; leftovers are reported as errors.
/// </summary>
sealed class Arguments
{
    readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public Arguments(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a[2..];
                string? value = i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal) ? list[++i] : null;
                if (!_options.TryAdd(name, value)) throw new UsageException($"option --{name} given twice");
            }
            else Positional.Add(a);
        }
    }

    public List<string> Positional { get; } = [];

    public bool Flag(string name)
    {
        if (!_options.TryGetValue(name, out var v)) return false;
        _used.Add(name);
        if (v is not null) throw new UsageException($"--{name} takes no value (got '{Shown(v)}')");
        return true;
    }

    public string? String(string name)
    {
        if (!_options.TryGetValue(name, out var v)) return null;
        _used.Add(name);
        return v ?? throw new UsageException($"--{name} needs a value");
    }

    public string String(string name, string fallback) => String(name) ?? fallback;

    public int Int(string name, int fallback) => Int(name) ?? fallback;

    /// <summary>The 32-bit integer given for --<paramref name="name"/>, or null when the option is absent.</summary>
    public int? Int(string name)
    {
        var s = String(name);
        if (s is null) return null;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new UsageException($"--{name} must be an integer between {int.MinValue} and {int.MaxValue}, got '{Shown(s)}'");
    }

    public float Float(string name, float fallback) => Float(name) ?? fallback;

    /// <summary>
    /// The finite float32 given for --<paramref name="name"/>, or null when absent; NaN, ±∞ and values beyond float32's range are errors.
    /// </summary>
    public float? Float(string name)
    {
        var s = String(name);
        if (s is null) return null;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v))
            throw new UsageException($"--{name} must be a number, got '{Shown(s)}'");
        if (!float.IsFinite(v)) throw new UsageException($"--{name} must be a finite number within float32's range, got '{Shown(s)}'");
        return v;
    }

    /// <summary>A value as an error message quotes it: long ones are cut.</summary>
    static string Shown(string value) => value.Length <= 40 ? value : value[..40] + "…";

    /// <summary>Throws if an option was given that no one asked for.</summary>
    public void RejectUnknown()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}

/// <summary>A mistake on the command line; printed with the usage text, exit code 2.</summary>
sealed class UsageException(string message) : Exception(message);
