using System.Diagnostics;

namespace Engine.Cli.Reporting;

/// <summary>A one-line progress bar on standard error: step, bar, metrics and time left.</summary>
sealed class ProgressBar(int total, string label)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly bool _interactive = !Console.IsErrorRedirected;
    int _lastPercent = -1;

    /// <summary>Shows step <paramref name="step"/> (1-based) of the total with the given metrics.</summary>
    public void Report(int step, string metrics)
    {
        double elapsed = _clock.Elapsed.TotalSeconds;
        double eta = step > 0 ? elapsed / step * (total - step) : 0;
        int percent = total == 0 ? 100 : step * 100 / total;
        const int width = 24;
        int filled = total == 0 ? width : step * width / total;
        string line = $"{label} {step,6}/{total} [{new string('#', filled)}{new string('.', width - filled)}] {metrics}  " +
            $"{Format(elapsed)} elapsed, {Format(eta)} left";
        if (_interactive) Console.Error.Write("\r" + line.PadRight(Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 160) : 0));
        else if (percent / 10 != _lastPercent / 10 || step == total) Console.Error.WriteLine(line);
        _lastPercent = percent;
    }

    /// <summary>Ends the line.</summary>
    public void Done()
    {
        if (_interactive) Console.Error.WriteLine();
    }

    static string Format(double seconds) => seconds < 90 ? $"{seconds:F0}s" : $"{seconds / 60:F1}m";
}
