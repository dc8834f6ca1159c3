namespace Engine;

/// <summary>
/// The attention pattern of a packed tree of sequences: position i attends to itself and its ancestors
/// (the chain of <c>parents</c>), nothing else. Each query's keys are kept as runs of consecutive positions,
/// so an attention that walks them costs Σ (ancestors + 1) instead of Length².
/// </summary>
public sealed class TreeMask
{
    readonly int[] _runOffsets, _runStarts, _runEnds;

    /// <summary>A mask from each position's parent: −1 for a root, otherwise an earlier position.</summary>
    public TreeMask(IReadOnlyList<int> parents)
    {
        ArgumentNullException.ThrowIfNull(parents);
        int n = parents.Count;
        var offsets = new int[n + 1];
        var starts = new List<int>();
        var ends = new List<int>();
        var chain = new List<(int Start, int End)>();
        for (int i = 0; i < n; i++)
        {
            if (parents[i] < -1 || parents[i] >= i)
                throw new ArgumentException($"tree_mask: position {i} has parent {parents[i]}; a parent must be −1 or an earlier position");
            chain.Clear();
            int end = i + 1, j = i;
            while (parents[j] >= 0)
            {
                if (parents[j] != j - 1)
                {
                    chain.Add((j, end));
                    end = parents[j] + 1;
                }
                j = parents[j];
            }
            chain.Add((j, end));
            offsets[i] = starts.Count;
            for (int r = chain.Count - 1; r >= 0; r--)
            {
                starts.Add(chain[r].Start);
                ends.Add(chain[r].End);
            }
            Pairs += chain.Sum(c => (long)(c.End - c.Start));
        }
        offsets[n] = starts.Count;
        Length = n;
        _runOffsets = offsets;
        _runStarts = [.. starts];
        _runEnds = [.. ends];

        int trunk = 0;
        while (trunk < n && parents[trunk] == trunk - 1) trunk++;
        for (int i = trunk; i < n; i++) trunk = Math.Min(trunk, _runStarts[offsets[i]] == 0 ? _runEnds[offsets[i]] : 0);
        Trunk = trunk;
        for (int r = 0; r < _runStarts.Length; r++) OffTrunkPairs += Math.Max(0, _runEnds[r] - Math.Max(_runStarts[r], trunk));
    }

    /// <summary>
    /// The shared trunk [0, Trunk): a chain from position 0 that every later position descends from (a packed
    /// group's prompt and whatever all its completions share). Attention to it is dense: every query sees all
    /// of it (causally, inside it), so it runs as matrix products.
    /// </summary>
    public int Trunk { get; }

    /// <summary>Query–key pairs with the key beyond the trunk: the ones a tree walk visits one by one.</summary>
    public long OffTrunkPairs { get; }

    /// <summary>Number of positions.</summary>
    public int Length { get; }

    /// <summary>Query–key pairs: Σ over positions of (ancestors + 1).</summary>
    public long Pairs { get; }

    /// <summary>The runs [start, end) of keys that position <paramref name="query"/> attends to, in increasing order.</summary>
    public IEnumerable<(int Start, int End)> Keys(int query)
    {
        for (int r = _runOffsets[query]; r < _runOffsets[query + 1]; r++) yield return (_runStarts[r], _runEnds[r]);
    }

    /// <summary>The runs of every query as one CSR layout: query i's runs are [RunOffsetsAll[i], RunOffsetsAll[i + 1]).</summary>
    internal int[] RunOffsetsAll => _runOffsets;

    /// <summary>The first key of every run.</summary>
    internal int[] RunStartsAll => _runStarts;

    /// <summary>The end (exclusive) of every run.</summary>
    internal int[] RunEndsAll => _runEnds;

    (int[] Offsets, int[] Queries)? _attenders;

    /// <summary>
    /// The queries that attend to each key (the key and its descendants), ascending, as CSR: key j's are
    /// Queries[Offsets[j]..Offsets[j + 1]]. Built on first use, from the runs.
    /// </summary>
    internal (int[] Offsets, int[] Queries) Attenders => _attenders ??= BuildAttenders();

    (int[] Offsets, int[] Queries) BuildAttenders()
    {
        var offsets = new int[Length + 1];
        for (int r = 0; r < _runStarts.Length; r++)
            for (int j = _runStarts[r]; j < _runEnds[r]; j++) offsets[j + 1]++;
        for (int j = 0; j < Length; j++) offsets[j + 1] += offsets[j];
        var queries = new int[offsets[Length]];
        var next = offsets[..Length];
        for (int i = 0; i < Length; i++)
            for (int r = _runOffsets[i]; r < _runOffsets[i + 1]; r++)
                for (int j = _runStarts[r]; j < _runEnds[r]; j++) queries[next[j]++] = i;
        return (offsets, queries);
    }

    internal ReadOnlySpan<int> RunStarts(int query) => _runStarts.AsSpan(_runOffsets[query], _runOffsets[query + 1] - _runOffsets[query]);

    internal ReadOnlySpan<int> RunEnds(int query) => _runEnds.AsSpan(_runOffsets[query], _runOffsets[query + 1] - _runOffsets[query]);

    /// <summary>The same pattern as a dense additive [Length, Length] mask: 0 where attended, −∞ elsewhere.</summary>
    public float[] Dense()
    {
        var mask = new float[(long)Length * Length];
        Array.Fill(mask, float.NegativeInfinity);
        for (int i = 0; i < Length; i++)
            foreach (var (start, end) in Keys(i))
                Array.Fill(mask, 0f, (int)((long)i * Length + start), end - start);
        return mask;
    }
}
