using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Engine.Cli;

/// <summary>
/// The kinds of option every command builds from, each with the one parser that checks it: integers in 32 bits, finite float32s,
/// flags that take no value, and no option given twice. The help text and the synopsis come from the same definitions.
/// </summary>
static class CliOptions
{
    /// <summary>An integer option that is null when absent.</summary>
    public static Option<int?> Integer(string name, string description, string valueName = "N") =>
        Define<int?>(name, description, valueName, r => ParseInteger(r, name));

    /// <summary>An integer option with a default.</summary>
    public static Option<int> Integer(string name, string description, int fallback, string valueName = "N") =>
        WithDefault(Define(name, description, valueName, r => ParseInteger(r, name) ?? fallback), fallback);

    /// <summary>A float32 option that is null when absent; NaN, ±∞ and values beyond float32's range are refused.</summary>
    public static Option<float?> Number(string name, string description, string valueName = "X") =>
        Define<float?>(name, description, valueName, r => ParseNumber(r, name));

    /// <summary>A float32 option with a default.</summary>
    public static Option<float> Number(string name, string description, float fallback, string valueName = "X") =>
        WithDefault(Define(name, description, valueName, r => ParseNumber(r, name) ?? fallback), fallback);

    /// <summary>A text option (a path, a name), null when absent unless <paramref name="required"/>.</summary>
    public static Option<string?> Text(string name, string description, string valueName, bool required = false)
    {
        var option = Define(name, description, valueName, r => Value(r, name));
        option.Required = required;
        return option;
    }

    /// <summary>A text option with a default.</summary>
    public static Option<string> Text(string name, string description, string valueName, string fallback) =>
        WithDefault(Define(name, description, valueName, r => Value(r, name) ?? fallback), fallback);

    /// <summary>A switch: present or not, it takes no value.</summary>
    public static Option<bool> Flag(string name, string description)
    {
        var option = new Option<bool>("--" + name) { Description = description, Arity = ArgumentArity.Zero };
        option.Validators.Add(r => RejectRepeats(r, name));
        return option;
    }

    /// <summary>The device a command computes on: a name <see cref="Engine.Device.Parse"/> knows, checked as the line is parsed.</summary>
    public static Option<string> Device()
    {
        var option = Text("device", "where to compute: cpu, cuda or ilgpu-cpu", "D", "cpu");
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 1 && !Engine.Device.Names.Contains(r.Tokens[0].Value))
                r.AddError($"--device must be {string.Join(", ", Engine.Device.Names.SkipLast(1))} or {Engine.Device.Names[^1]}, " +
                    $"got '{Shown(r.Tokens[0].Value)}'");
        });
        return option;
    }

    /// <summary>A path option: a value that is empty is a mistake on the command line, not a missing file.</summary>
    public static Option<string?> Path(string name, string description, string valueName, bool required = false)
    {
        var option = Text(name, description, valueName, required);
        option.Validators.Add(r => RejectEmpty(r, name));
        return option;
    }

    /// <summary>A path option with a default.</summary>
    public static Option<string> Path(string name, string description, string valueName, string fallback)
    {
        var option = Text(name, description, valueName, fallback);
        option.Validators.Add(r => RejectEmpty(r, name));
        return option;
    }

    static void RejectEmpty(OptionResult result, string name)
    {
        if (result.Tokens.Count == 1 && string.IsNullOrWhiteSpace(result.Tokens[0].Value)) result.AddError($"--{name} is empty; give a path");
    }

    static Option<T> Define<T>(string name, string description, string valueName, Func<ArgumentResult, T> parse)
    {
        var option = new Option<T>("--" + name) { Description = description, HelpName = valueName, CustomParser = parse };
        option.Validators.Add(r => RejectRepeats(r, name));
        return option;
    }

    static Option<T> WithDefault<T>(Option<T> option, T fallback)
    {
        option.DefaultValueFactory = _ => fallback;
        return option;
    }

    static void RejectRepeats(OptionResult result, string name)
    {
        if (result.IdentifierTokenCount > 1) result.AddError($"option --{name} given twice");
    }

    /// <summary>The one value given for the option, or null (with an error) when there is none or more than one.</summary>
    static string? Value(ArgumentResult result, string name)
    {
        if (result.Tokens.Count == 1) return result.Tokens[0].Value;
        // Two values with one name are reported as a repeat by the option's validator.
        if (result.Tokens.Count == 0) result.AddError($"--{name} needs a value");
        return null;
    }

    static int? ParseInteger(ArgumentResult result, string name)
    {
        if (Value(result, name) is not { } s) return null;
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
        result.AddError($"--{name} must be an integer between {int.MinValue} and {int.MaxValue}, got '{Shown(s)}'");
        return null;
    }

    static float? ParseNumber(ArgumentResult result, string name)
    {
        if (Value(result, name) is not { } s) return null;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v))
            result.AddError($"--{name} must be a number, got '{Shown(s)}'");
        else if (!float.IsFinite(v)) result.AddError($"--{name} must be a finite number within float32's range, got '{Shown(s)}'");
        else return v;
        return null;
    }

    /// <summary>A value as an error message quotes it: long ones are cut.</summary>
    static string Shown(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
