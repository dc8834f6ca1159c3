namespace Engine.Autograd;

/// <summary>Whether ops record a graph on the current thread. <see cref="NoGrad"/> turns recording off for a scope.</summary>
public static class GradMode
{
    [ThreadStatic] static int t_disabled;

    /// <summary>True unless a <see cref="NoGrad"/> scope is open on this thread.</summary>
    public static bool Enabled => t_disabled == 0;

    /// <summary>Opens a scope in which no op records a graph (inference, optimizer updates).</summary>
    public static NoGradScope NoGrad()
    {
        t_disabled++;
        return new NoGradScope();
    }

    /// <summary>Closes a <see cref="NoGrad"/> scope.</summary>
    public readonly struct NoGradScope : IDisposable
    {
        /// <summary>Re-enables recording (if no outer scope disables it).</summary>
        public void Dispose() => t_disabled--;
    }
}
