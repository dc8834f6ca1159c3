using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text.RegularExpressions;
using Engine.Cli.Commands;

namespace Engine.Cli;

/// <summary>
/// The one definition of the command line: every command, option and its help come from the tree built here, so the usage
/// printed on an error, <c>--help</c> and the parser cannot disagree.
/// </summary>
static class EngineCommandLine
{
    /// <summary>Adds the stack trace to an error; any command takes it.</summary>
    static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "add the stack trace to an error", Arity = ArgumentArity.Zero, Recursive = true,
    };

    static readonly RootCommand Root = Build();

    /// <summary>
    /// A token is what it says: "@name" is not replaced by the lines of a response file (a prompt may start with "@"), and no
    /// single-dash token is split into bundled switches.
    /// </summary>
    static readonly ParserConfiguration Literal = new() { ResponseFileTokenReplacer = null, EnablePosixBundling = false };

    /// <summary>The whole command tree, for tests that walk every command.</summary>
    internal static RootCommand Definition => Root;

    static RootCommand Build()
    {
        var root = new RootCommand("engine: a machine-learning engine in C#. Exit codes: 0 success, 1 an error in the input or the " +
            "environment, 2 a mistake on the command line, 70 an internal error (a bug: please report it).");
        // "-h" is help only where it is not an option's value (see Normalize), so the parser knows "--help" alone.
        for (int i = root.Options.Count - 1; i >= 0; i--)
            if (root.Options[i] is HelpOption) root.Options.RemoveAt(i);
        root.Options.Add(new HelpOption("--help") { Description = "show this help (-h too)", Recursive = true });
        root.Options.Add(Verbose);
        // No "[diagram]" or "[suggest]" directives: a line means only what --help says.
        root.Directives.Clear();
        foreach (var command in new[]
            {
                GrpoCommand.Build(), InspectCommand.Build(), TrainLmCommand.Build(), EvalCommand.Build(), SampleCommand.Build(),
                TokenizeCommand.Build(), BenchCommand.Build(),
            })
            root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Runs the command line and returns the process's exit code; every error becomes one message (<see cref="ErrorReport"/>).</summary>
    public static int Run(string[] args)
    {
        args = Normalize(args);
        if (args.Length == 0)
        {
            Root.Parse(["--help"]).Invoke();
            return ErrorReport.Usage;
        }
        var parsed = Root.Parse(args, Literal);
        // The parser's view, not the raw tokens: "--prompt --verbose" is a prompt.
        bool verbose = parsed.GetValue(Verbose);
        try
        {
            return Invoke(parsed);
        }
        catch (Exception e)
        {
            return ErrorReport.Write(e, verbose, Synopsis(parsed.CommandResult.Command));
        }
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/>, letting every error through as an exception (a mistake on the command line as a
    /// <see cref="UsageException"/>).
    /// </summary>
    public static int Execute(params string[] args) => Invoke(Root.Parse(Normalize(args), Literal));

    static int Invoke(ParseResult parsed)
    {
        // Help is shown even when a required option is missing, but not for a command or option that does not exist; anything
        // else (--version too) runs only on a line without a mistake.
        if (parsed.UnmatchedTokens.Count > 0 || (parsed.Errors.Count > 0 && parsed.Action is not HelpAction))
            throw new UsageException(Messages(parsed));
        return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>The parser's errors in this tool's words: an unknown token is named as an unknown command, option or argument.</summary>
    static string Messages(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        string Unmatched(string token) => token.StartsWith('-') ? $"unknown option {token}"
            : command.Subcommands.Count > 0 ? $"unknown command '{token}'" : $"unexpected argument '{token}'";
        var messages = parsed.UnmatchedTokens.Select(Unmatched).ToList();
        foreach (var error in parsed.Errors.Select(e => e.Message))
        {
            if (parsed.UnmatchedTokens.Any(t => error.StartsWith("Unrecognized", StringComparison.Ordinal) && error.Contains($"'{t}'")))
                continue;
            if (command.Subcommands.Count > 0 && command.Action is null && error.StartsWith("Required command", StringComparison.Ordinal))
            {
                if (messages.Count == 0)
                    messages.Add($"{Name(command)} needs a command: {string.Join(", ", command.Subcommands.Select(c => c.Name))}");
                continue;
            }
            messages.Add(Reworded(error, command));
        }
        return string.Join("; ", messages.Distinct());
    }

    /// <summary>The parser's own sentences in this tool's words; others pass unchanged.</summary>
    static string Reworded(string error, Command command)
    {
        // "expects a single argument but 2 were provided": the option was given twice.
        if (Regex.Match(error, "^Option '(--[a-z-]+)' expects a single argument") is { Success: true } repeated)
            return $"option {repeated.Groups[1].Value} given twice";
        if (Regex.Match(error, "^Required argument missing for option: '(--[a-z-]+)'") is { Success: true } bare)
            return $"{bare.Groups[1].Value} needs a value";
        if (Regex.Match(error, "^Option '(--[a-z-]+)' is required") is { Success: true } required)
            return $"{required.Groups[1].Value} is required";
        if (error.StartsWith("Required argument missing for command", StringComparison.Ordinal) && command.Arguments.Count > 0)
            return $"{Name(command)} needs {string.Join(' ', command.Arguments.Select(a => a.Name))}";
        return error.TrimEnd('.');
    }

    /// <summary>
    /// "help [COMMAND…]" is "COMMAND… --help", and "-h" is "--help" unless it is the value of an option before it (a prompt may be "-h").
    /// </summary>
    static string[] Normalize(string[] args)
    {
        if (args.Length > 0 && args[0] == "help") return [.. args[1..], "--help"];
        var takesValue = AllOptions(Root).Where(o => o.Arity.MaximumNumberOfValues > 0).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        return [.. args.Select((a, i) => a == "-h" && (i == 0 || !takesValue.Contains(args[i - 1])) ? "--help" : a)];
    }

    static IEnumerable<Option> AllOptions(Command command) => command.Options.Concat(command.Subcommands.SelectMany(AllOptions));

    /// <summary>The command's one-line usage, from its definition: required options bare, the others in brackets.</summary>
    internal static string Synopsis(Command command)
    {
        string name = Name(command);
        if (command.Subcommands.Count > 0)
            return $"usage: {name} {string.Join('|', command.Subcommands.Select(s => s.Name))} …; see '{name} --help'";
        var parts = command.Arguments.Select(a => a.Name).Concat(command.Options.Where(o => o is not HelpOption && o != Verbose).Select(o =>
        {
            string shown = o.Arity.MaximumNumberOfValues == 0 ? o.Name : $"{o.Name} {o.HelpName}";
            return o.Required ? shown : $"[{shown}]";
        }));
        return $"usage: {name} {string.Join(' ', parts)}; see '{name} --help'";
    }

    /// <summary>The words that name <paramref name="command"/>: "engine grpo tree".</summary>
    static string Name(Command command)
    {
        var path = new List<string>();
        for (var c = command; c is not null; c = Parent(c)) path.Insert(0, c == Root ? "engine" : c.Name);
        return string.Join(' ', path);
    }

    static Command? Parent(Command command) =>
        command == Root ? null : Descendants(Root).FirstOrDefault(c => c.Subcommands.Contains(command));

    static IEnumerable<Command> Descendants(Command command) => command.Subcommands.SelectMany(Descendants).Prepend(command);
}
