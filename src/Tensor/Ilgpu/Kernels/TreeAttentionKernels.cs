using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// The sizes of one tree-attention launch. Trunk &gt; 0 when the flash kernels have done the trunk's share
/// (<see cref="AttentionKernels.TrunkForward"/>): the walk then covers only the keys from Trunk on, and the queries
/// from Trunk on.
/// </summary>
internal struct TreeArgs
{
    public int Length, BatchHeads, Dim, ValueDim, Trunk;
    public float Scale;
}

/// <summary>
/// Attention along a <see cref="TreeMask"/>: each query reads only its ancestors, given as runs of consecutive keys
/// (<c>offsets</c>, <c>starts</c>, <c>ends</c>, the mask's own layout), so the work is the tree's pairs, not N².
/// As in <see cref="AttentionFlash"/>, <see cref="AttentionFlash.LanesPerRow"/> lanes own one row (batch-head, query)
/// in the forward pass and for dQ, or one (batch-head, key) for dK and dV, over the key's descendants (the queries that
/// attend to it, as a CSR list). Each lane keeps a quarter of the row's vectors and accumulators in registers
/// (<see cref="RowQuarter"/>) and reads a quarter of each visited key's (or query's) vectors from global memory; the
/// forward pass is one online-softmax sweep. Every output row has one writer: no atomics, and the same bits on every
/// run.
/// <para>
/// With a trunk (<see cref="TreeArgs.Trunk"/>), the walk starts where the flash kernels stopped: the forward pass
/// resumes each later query's online softmax from the trunk's o and lse (running max lse, sum 1, accumulator o), dQ
/// adds to the trunk's dq, and dK, dV cover the keys past the trunk, whose attenders are all past it too.
/// </para>
/// <para>
/// Rows have different numbers of ancestors, and every step shuffles across the warp, so a warp walks as many steps as
/// its longest row and the other rows idle through the rest. The grid-stride loop advances whole warps: the launch's
/// groups must hold whole warps.
/// </para>
/// </summary>
internal static class TreeAttentionKernels
{
    const int Lanes = AttentionFlash.LanesPerRow;

    /// <summary>Rows the whole grid covers per step.</summary>
    static long RowStep => (long)Grid.DimX * Group.DimX / Lanes;

    /// <summary>The row of this lane's first step.</summary>
    static long FirstRow => Grid.GlobalIndex.X / Lanes;

    /// <summary>The first row of the calling lane's warp, given the lane's row.</summary>
    static long WarpFirstRow(long row) => row - Warp.LaneIdx / Lanes;

    /// <summary>The largest <paramref name="steps"/> over the warp (the same in every lane of a row).</summary>
    static int WarpMax(int steps)
    {
        for (int mask = Lanes; mask < Warp.WarpSize; mask *= 2) steps = Math.Max(steps, Warp.ShuffleXor(steps, mask));
        return steps;
    }

    /// <summary>The walk along a query's runs: how many keys it visits, the current key, and the step to the next one.</summary>
    struct RunCursor
    {
        public int Steps, Key, End, Run, LastRun;

        /// <summary>The walk over the query's keys from <paramref name="from"/> on (the runs ascend and do not overlap).</summary>
        public static RunCursor Start(ArrayView<int> offsets, ArrayView<int> starts, ArrayView<int> ends, int query, int from)
        {
            int first = offsets[query], last = offsets[query + 1], steps = 0;
            while (first < last && ends[first] <= from) first++;
            for (int r = first; r < last; r++) steps += ends[r] - Math.Max(starts[r], from);
            return first < last
                ? new RunCursor { Steps = steps, Key = Math.Max(starts[first], from), End = ends[first], Run = first, LastRun = last }
                : default;
        }

        public void Next(ArrayView<int> starts, ArrayView<int> ends)
        {
            if (++Key < End || ++Run >= LastRun) return;
            Key = starts[Run];
            End = ends[Run];
        }
    }

    /// <summary>o_i = Σ_j softmax_j(scale·q_i·k_j) v_j over the ancestors j of i, in one online-softmax sweep; lse_i.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> offsets, ArrayView<int> starts,
        ArrayView<int> ends, ArrayView<float> o, ArrayView<float> lse, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim, lane = Warp.LaneIdx % Lanes;
        long rows = (long)a.BatchHeads * a.Length;
        for (long t = FirstRow; WarpFirstRow(t) < rows; t += RowStep)
        {
            int i = t < rows ? (int)(t % a.Length) : 0;
            bool walks = t < rows && i >= a.Trunk;
            long head = t - i;
            var at = walks ? RunCursor.Start(offsets, starts, ends, i, a.Trunk) : default;
            var qr = walks ? RowQuarter.Load(q, t * d, d, a.Scale, lane) : default;
            bool resumes = walks && a.Trunk > 0;
            var acc = resumes ? RowQuarter.Load(o, t * dv, dv, 1f, lane) : default;
            float m = resumes ? lse[t] : float.NegativeInfinity, l = m == float.NegativeInfinity ? 0f : 1f;
            for (int n = 0, all = WarpMax(at.Steps); n < all; n++)
            {
                bool visits = n < at.Steps;
                var kr = visits ? RowQuarter.Load(k, (head + at.Key) * d, d, 1f, lane) : default;
                float s = RowQuarter.Dot(ref qr, ref kr);
                if (!visits) continue;
                var vr = RowQuarter.Load(v, (head + at.Key) * dv, dv, 1f, lane);
                float alpha = AttentionFlash.OnlineSoftmaxStep(s, ref m, ref l, out float e);
                RowQuarter.ScaleAdd(ref acc, alpha, e, ref vr);
                at.Next(starts, ends);
            }
            if (!walks) continue;
            RowQuarter.Store(ref acc, o, t * dv, dv, 1f / l, lane);
            if (lane == 0) lse[t] = m + MathF.Log(l);
        }
    }

    /// <summary>dQ_i = scale Σ_j P_ij (dO_i·v_j − delta_i) k_j over the ancestors j of i, with P recomputed from lse.</summary>
    public static void QueryGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO,
        ArrayView<float> delta, ArrayView<int> offsets, ArrayView<int> starts, ArrayView<int> ends, ArrayView<float> dq, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim, lane = Warp.LaneIdx % Lanes;
        long rows = (long)a.BatchHeads * a.Length;
        for (long t = FirstRow; WarpFirstRow(t) < rows; t += RowStep)
        {
            int i = t < rows ? (int)(t % a.Length) : 0;
            bool walks = t < rows && i >= a.Trunk;
            long head = t - i;
            var at = walks ? RunCursor.Start(offsets, starts, ends, i, a.Trunk) : default;
            var qr = walks ? RowQuarter.Load(q, t * d, d, a.Scale, lane) : default;
            var gr = walks ? RowQuarter.Load(dO, t * dv, dv, 1f, lane) : default;
            float rowLse = walks ? lse[t] : 0f, rowDelta = walks ? delta[t] : 0f;
            var acc = default(RowQuarter);
            for (int n = 0, all = WarpMax(at.Steps); n < all; n++)
            {
                bool visits = n < at.Steps;
                var kr = visits ? RowQuarter.Load(k, (head + at.Key) * d, d, 1f, lane) : default;
                var vr = visits ? RowQuarter.Load(v, (head + at.Key) * dv, dv, 1f, lane) : default;
                float s = RowQuarter.Dot(ref qr, ref kr), dp = RowQuarter.Dot(ref gr, ref vr);
                if (!visits) continue;
                RowQuarter.Axpy(ref acc, MathF.Exp(s - rowLse) * (dp - rowDelta), ref kr);
                at.Next(starts, ends);
            }
            if (!walks) continue;
            var sum = a.Trunk > 0 ? RowQuarter.Load(dq, t * d, d, 1f, lane) : default;
            RowQuarter.Axpy(ref sum, a.Scale, ref acc);
            RowQuarter.Store(ref sum, dq, t * d, d, 1f, lane);
        }
    }

    /// <summary>dV_j = Σ_i P_ij dO_i and dK_j = scale Σ_i P_ij (dO_i·v_j − delta_i) q_i over the queries i that attend to j.</summary>
    public static void KeyValueGradient(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO,
        ArrayView<float> delta, ArrayView<int> queryOffsets, ArrayView<int> queries, ArrayView<float> dk, ArrayView<float> dvOut, TreeArgs a)
    {
        int d = a.Dim, dv = a.ValueDim, lane = Warp.LaneIdx % Lanes;
        long rows = (long)a.BatchHeads * a.Length;
        for (long t = FirstRow; WarpFirstRow(t) < rows; t += RowStep)
        {
            int j = t < rows ? (int)(t % a.Length) : 0;
            bool walks = t < rows && j >= a.Trunk;
            long head = t - j;
            int first = walks ? queryOffsets[j] : 0, steps = walks ? queryOffsets[j + 1] - first : 0;
            var kr = walks ? RowQuarter.Load(k, t * d, d, a.Scale, lane) : default;
            var vr = walks ? RowQuarter.Load(v, t * dv, dv, 1f, lane) : default;
            var dka = default(RowQuarter);
            var dva = default(RowQuarter);
            for (int n = 0, all = WarpMax(steps); n < all; n++)
            {
                bool visits = n < steps;
                long row = visits ? head + queries[first + n] : 0;
                var qr = visits ? RowQuarter.Load(q, row * d, d, 1f, lane) : default;
                var gr = visits ? RowQuarter.Load(dO, row * dv, dv, 1f, lane) : default;
                float s = RowQuarter.Dot(ref kr, ref qr), dp = RowQuarter.Dot(ref vr, ref gr);
                if (!visits) continue;
                float p = MathF.Exp(s - lse[row]);
                RowQuarter.Axpy(ref dva, p, ref gr);
                RowQuarter.Axpy(ref dka, p * (dp - delta[row]) * a.Scale, ref qr);
            }
            if (!walks) continue;
            RowQuarter.Store(ref dka, dk, t * d, d, 1f, lane);
            RowQuarter.Store(ref dva, dvOut, t * dv, dv, 1f, lane);
        }
    }
}
