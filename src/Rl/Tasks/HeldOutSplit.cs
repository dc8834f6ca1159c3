namespace Engine.Rl.Tasks;

/// <summary>
/// The split every problem task uses: a fixed hash of a problem's prompt puts a tenth of the problem space in the held-out
/// set, which evaluation draws from and training never does.
/// </summary>
static class HeldOutSplit
{
    /// <summary>Whether <paramref name="problem"/> is in the held-out tenth (FNV-1a of its prompt).</summary>
    public static bool Contains(ArithmeticProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        uint h = 2166136261;
        foreach (char c in problem.Prompt) h = (h ^ c) * 16777619;
        return h % 10 == 0;
    }

    /// <summary>
    /// The first of <paramref name="problem"/>(seed, counter)'s draws for <paramref name="index"/> on the wanted side of the
    /// split; retries use far-away counters, so each index stays a pure function.
    /// </summary>
    public static ArithmeticProblem Draw(Func<ulong, ulong, ArithmeticProblem> problem, ulong seed, ulong index, bool heldOut)
    {
        for (ulong attempt = 0; ; attempt++)
        {
            var p = problem(seed, index + (attempt << 40));
            if (Contains(p) == heldOut) return p;
        }
    }
}
