namespace Engine.Cpu;

/// <summary>Splits a range of independent work items over the cores, serially when the range is small.</summary>
static class CpuParallel
{
    /// <summary>The number of worker threads used (all cores).</summary>
    public static int Threads { get; } = Environment.ProcessorCount;

    /// <summary>
    /// Calls <paramref name="body"/>(start, end) on disjoint chunks covering [0, count). Runs on the caller's
    /// thread unless there are at least <paramref name="grain"/> items per extra thread.
    /// </summary>
    public static void For(int count, int grain, Action<int, int> body)
    {
        int chunks = Math.Min(Threads, count / Math.Max(grain, 1));
        if (chunks <= 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, chunks, c =>
        {
            int start = (int)((long)count * c / chunks), end = (int)((long)count * (c + 1) / chunks);
            body(start, end);
        });
    }
}
