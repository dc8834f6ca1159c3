namespace Engine.Model.Checkpoints;

/// <summary>
/// Settings a run cannot start with: a value out of range, options that exclude each other, or a resumed run asked to change
/// what it keeps. The command line reports it as a mistake on the command line.
/// </summary>
public sealed class RunSettingsException(string message) : ArgumentException(message)
{
    /// <summary>Throws unless at most one of <paramref name="resume"/> and <paramref name="force"/> is set.</summary>
    public static void CheckResumeOrForce(bool resume, bool force)
    {
        if (resume && force) throw new RunSettingsException("--resume continues a run and --force replaces it: give one of them");
    }
}
