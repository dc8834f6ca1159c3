namespace Engine.Cli;

/// <summary>The one place an error becomes a message and an exit code.</summary>
static class ErrorReport
{
    /// <summary>A mistake on the command line.</summary>
    public const int Usage = 2;

    /// <summary>Bad input or a failing environment (a missing file, a full disk, too little memory): an expected failure.</summary>
    public const int Failure = 1;

    /// <summary>EX_SOFTWARE: anything else is a bug in Engine.</summary>
    public const int InternalError = 70;

    /// <summary>
    /// Writes one line about <paramref name="thrown"/> to standard error (the trace only when <paramref name="verbose"/>)
    /// and returns the exit code.
    /// </summary>
    public static int Write(Exception thrown, bool verbose, string usage)
    {
        // Parallel loops wrap what their bodies throw; the first inner error is the one to report.
        var e = thrown is AggregateException a ? a.Flatten().InnerExceptions[0] : thrown;
        var error = Console.Error;
        switch (e)
        {
            case UsageException:
                error.WriteLine($"engine: {e.Message}");
                error.WriteLine(usage);
                return Usage;
            case OutOfMemoryException when e is not InsufficientMemoryException:
                error.WriteLine($"engine: out of memory ({e.Message.TrimEnd('.')}): the command needs more memory than this process may take; " +
                    "try smaller sizes (batch, group, context)");
                if (verbose) error.WriteLine(e);
                return Failure;
            case ArgumentException or InvalidOperationException or NotSupportedException or IOException or UnauthorizedAccessException
                or OutOfMemoryException or ObjectDisposedException:
                error.WriteLine($"engine: {OneLine(e)}");
                if (verbose) error.WriteLine(e);
                return Failure;
            default:
                error.WriteLine($"engine: internal error ({e.GetType().Name}): {e.Message.ReplaceLineEndings(" ")}" +
                    (verbose ? "" : " (run again with --verbose for the stack trace)"));
                if (verbose) error.WriteLine(e);
                return InternalError;
        }
    }

    /// <summary>
    /// The message without what .NET appends for a programmer (" (Parameter 'x')", "Actual value was …", "Object name: …"), which
    /// says nothing to the user of a command.
    /// </summary>
    static string OneLine(Exception e)
    {
        string message = e is ArgumentException or ObjectDisposedException ? e.Message.ReplaceLineEndings("\n").Split('\n')[0] : e.Message;
        if (e is ArgumentException { ParamName: { } name }) message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        return message;
    }
}
