using System.Runtime.CompilerServices;

[assembly: AssemblyFixture(typeof(Engine.Tests.Support.LeakReport))]

namespace Engine.Tests.Support;

/// <summary>
/// The whole suite runs with <see cref="TensorLeaks.Track"/> on. At the end every tensor that was never disposed is
/// written, grouped by creation site, to tensor-leaks.txt beside the test assembly (and counted on stderr).
/// </summary>
public sealed class LeakReport : IDisposable
{
    [ModuleInitializer]
    internal static void Enable() => TensorLeaks.Track = true;

    public void Dispose()
    {
        var leaks = TensorLeaks.Collect();
        var sites = leaks.GroupBy(l => WithoutRunnerFrames(l.CreatedAt)).OrderByDescending(g => g.Count())
            .Select(g => $"{g.Count()} × {g.First().Shape} {g.First().DType}, created at:{Environment.NewLine}{g.Key}");
        string path = Path.Combine(AppContext.BaseDirectory, "tensor-leaks.txt");
        File.WriteAllText(path, $"{leaks.Count} tensors never disposed{Environment.NewLine}{Environment.NewLine}" +
            string.Join(Environment.NewLine, sites));
        Console.Error.WriteLine($"tensor leak report: {leaks.Count} tensors never disposed, listed in {path}");
    }

    /// <summary>The stack up to the test method: the frames of reflection and of the xunit runner below it say nothing.</summary>
    static string WithoutRunnerFrames(string stack)
    {
        int cut = stack.IndexOf("   at System.Reflection.", StringComparison.Ordinal);
        return cut < 0 ? stack : stack[..cut];
    }
}
