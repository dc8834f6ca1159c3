using ILGPU;

namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Kernels that reduce along rows: one group per row (grid-stride over rows), each thread striding over the
/// columns, then a tree reduction in shared memory. The tree's order depends only on the group size, so
/// results are the same on every run: no atomics anywhere.
/// </summary>
static class RowKernels
{
    /// <summary>The largest group a row kernel is launched with; a power of two.</summary>
    internal const int MaxGroup = 256;

    /// <summary>Σ of each thread's value over the group, in a fixed tree order; every thread gets the result.</summary>
    static float GroupSum(ArrayView<float> scratch, float v)
    {
        int t = Group.IdxX;
        scratch[t] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) scratch[t] += scratch[t + s];
            Group.Barrier();
        }
        float r = scratch[0];
        Group.Barrier();
        return r;
    }

    /// <summary>max over the group, NaN winning.</summary>
    static float GroupMax(ArrayView<float> scratch, float v)
    {
        int t = Group.IdxX;
        scratch[t] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) scratch[t] = MaxNaN(scratch[t], scratch[t + s]);
            Group.Barrier();
        }
        float r = scratch[0];
        Group.Barrier();
        return r;
    }

    /// <summary>max(a, b) propagating NaN, as the CPU backend's max does (PTX's max.f32 would drop it).</summary>
    internal static float MaxNaN(float a, float b) => a > b || float.IsNaN(a) ? a : b;

    /// <summary>max of x[start + j] over j &lt; cols, reduced over the group.</summary>
    static float RowMax(ArrayView<float> x, ArrayView<float> scratch, int start, int cols)
    {
        float m = float.NegativeInfinity;
        for (int j = Group.IdxX; j < cols; j += Group.DimX) m = MaxNaN(m, x[start + j]);
        return GroupMax(scratch, m);
    }

    /// <summary>Σ exp(x[start + j] − shift), reduced over the group.</summary>
    static float RowExpSum(ArrayView<float> x, ArrayView<float> scratch, int start, int cols, float shift)
    {
        float s = 0f;
        for (int j = Group.IdxX; j < cols; j += Group.DimX) s += MathF.Exp(x[start + j] - shift);
        return GroupSum(scratch, s);
    }

    /// <summary>Softmax or log-softmax of each row.</summary>
    internal static void Softmax(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int log)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int start = r * cols;
            float max = RowMax(x, scratch, start, cols);
            float sum = RowExpSum(x, scratch, start, cols, max);
            if (log != 0)
            {
                float lse = MathF.Log(sum);
                for (int j = Group.IdxX; j < cols; j += Group.DimX) y[start + j] = x[start + j] - max - lse;
            }
            else
            {
                float inv = 1f / sum;
                for (int j = Group.IdxX; j < cols; j += Group.DimX) y[start + j] = MathF.Exp(x[start + j] - max) * inv;
            }
        }
    }

    /// <summary>Layer norm of each row, two-pass (mean, then squared deviations), with the per-row mean and 1/σ.</summary>
    internal static void LayerNorm(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int start = r * cols;
            float s = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX) s += x[start + j];
            float m = GroupSum(scratch, s) / cols;
            float sq = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                float d = x[start + j] - m;
                sq += d * d;
            }
            float rs = 1f / MathF.Sqrt(GroupSum(scratch, sq) / cols + eps);
            for (int j = Group.IdxX; j < cols; j += Group.DimX) y[start + j] = (x[start + j] - m) * rs * w[j] + b[j];
            if (Group.IdxX == 0)
            {
                mean[r] = m;
                rstd[r] = rs;
            }
        }
    }

    /// <summary>losses[r] = log Σ exp(logits[r]) − logits[r, t], or 0 where t = ignore.</summary>
    internal static void CrossEntropy(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> losses, int rows, int cols, int ignore)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int t = targets[r];
            if (t == ignore)
            {
                if (Group.IdxX == 0) losses[r] = 0f;
                continue;
            }
            int start = r * cols;
            float max = RowMax(logits, scratch, start, cols);
            float sum = RowExpSum(logits, scratch, start, cols, max);
            if (Group.IdxX == 0) losses[r] = MathF.Log(sum) + max - logits[start + t];
        }
    }

    /// <summary>dlogits[r] = scale · (softmax(logits[r]) − onehot(t)), or 0 where t = ignore.</summary>
    internal static void CrossEntropyBackward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> d, int rows, int cols,
        int ignore, float scale)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int t = targets[r], start = r * cols;
            if (t == ignore)
            {
                for (int j = Group.IdxX; j < cols; j += Group.DimX) d[start + j] = 0f;
                continue;
            }
            float max = RowMax(logits, scratch, start, cols);
            float k = scale / RowExpSum(logits, scratch, start, cols, max);
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
                d[start + j] = MathF.Exp(logits[start + j] - max) * k - (j == t ? scale : 0f);
        }
    }

    /// <summary>Softmax backward: dx = y ⊙ (dy − ⟨dy, y⟩); log-softmax: dx = dy − e^y · Σ dy.</summary>
    internal static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int rows, int cols, int log)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int start = r * cols;
            float s = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX) s += log != 0 ? dy[start + j] : dy[start + j] * y[start + j];
            float total = GroupSum(scratch, s);
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                int i = start + j;
                dx[i] = log != 0 ? dy[i] - MathF.Exp(y[i]) * total : y[i] * (dy[i] - total);
            }
        }
    }

    /// <summary>Layer-norm dx per row: s·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)) with x̂ = (x − μ)·s, dx̂ = dy ⊙ w.</summary>
    internal static void LayerNormBackward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dx, int rows, int cols)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            int start = r * cols;
            float m = mean[r], s = rstd[r];
            float sd = 0f, sdx = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                float d = dy[start + j] * w[j];
                sd += d;
                sdx += d * (x[start + j] - m) * s;
            }
            float meanD = GroupSum(scratch, sd) / cols;
            float meanDX = GroupSum(scratch, sdx) / cols;
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                float xhat = (x[start + j] - m) * s;
                dx[start + j] = s * (dy[start + j] * w[j] - meanD - xhat * meanDX);
            }
        }
    }

    /// <summary>
    /// Pass 1 of dweight and dbias: for each chunk p of <paramref name="chunkRows"/> rows and column c,
    /// partial[p·cols + c] = Σ dy·x̂ and partial[(chunks + p)·cols + c] = Σ dy over the chunk's rows. One thread
    /// per (chunk, column), so a few hundred columns still fill a GPU; <see cref="ColumnSums"/> adds the chunks up.
    /// </summary>
    internal static void LayerNormParamPartials(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy,
        ArrayView<float> partial, int rows, int cols, int chunkRows, int chunks)
    {
        int n = chunks * cols;
        for (int t = Grid.GlobalIndex.X; t < n; t += Grid.DimX * Group.DimX)
        {
            int p = t / cols, c = t - p * cols, end = Math.Min(rows, (p + 1) * chunkRows);
            float sw = 0f, sb = 0f;
            for (int r = p * chunkRows; r < end; r++)
            {
                float g = dy[r * cols + c];
                sw += g * (x[r * cols + c] - mean[r]) * rstd[r];
                sb += g;
            }
            partial[t] = sw;
            partial[n + t] = sb;
        }
    }

    /// <summary>
    /// Pass 1 of a column sum: partial[p·outputs + e] = Σ of x[o, j, i] over the rows j of chunk p, for output
    /// e = o·inner + i. One thread per (chunk, output).
    /// </summary>
    internal static void ColumnPartialSums(ArrayView<float> x, ArrayView<float> partial, int outer, int length, int inner, int chunkRows, int chunks)
    {
        int outputs = outer * inner, n = chunks * outputs;
        for (int t = Grid.GlobalIndex.X; t < n; t += Grid.DimX * Group.DimX)
        {
            int p = t / outputs, e = t - p * outputs, o = e / inner, i = e - o * inner;
            int start = o * length * inner + i, end = Math.Min(length, (p + 1) * chunkRows);
            float s = 0f;
            for (int j = p * chunkRows; j < end; j++) s += x[start + j * inner];
            partial[t] = s;
        }
    }

    /// <summary>
    /// Pass 2: y[e] = scale · Σ_p partial[p·outputs + e], adding the chunks in order (so the result depends
    /// only on the shapes, never on scheduling); with <paramref name="accumulate"/> ≠ 0, y[e] += that instead.
    /// </summary>
    internal static void ColumnSums(ArrayView<float> partial, ArrayView<float> y, int chunks, int outputs, float scale, int accumulate)
    {
        for (int e = Grid.GlobalIndex.X; e < outputs; e += Grid.DimX * Group.DimX)
        {
            float s = 0f;
            for (int p = 0; p < chunks; p++) s += partial[p * outputs + e];
            y[e] = accumulate != 0 ? y[e] + s * scale : s * scale;
        }
    }

    /// <summary>y[o] = scale · Σ_j x[o, j] for reductions with inner = 1.</summary>
    internal static void SumRows(ArrayView<float> x, ArrayView<float> y, int outer, int length, float scale)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            float s = 0f;
            for (int j = Group.IdxX; j < length; j += Group.DimX) s += x[o * length + j];
            float total = GroupSum(scratch, s);
            if (Group.IdxX == 0) y[o] = total * scale;
        }
    }

    /// <summary>y[o] = max_j x[o, j] for reductions with inner = 1.</summary>
    internal static void MaxRows(ArrayView<float> x, ArrayView<float> y, int outer, int length)
    {
        var scratch = SharedMemory.Allocate<float>(MaxGroup);
        for (int o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            float m = RowMax(x, scratch, o * length, length);
            if (Group.IdxX == 0) y[o] = m;
        }
    }

    /// <summary>Whether candidate (v, i) beats (best, at) for the first maximum: NaN wins, ties go to the lower index.</summary>
    static bool Better(float v, int i, float best, int at)
    {
        bool vn = float.IsNaN(v), bn = float.IsNaN(best);
        if (vn || bn) return vn && (!bn || i < at);
        return v > best || (v == best && i < at);
    }

    /// <summary>y[o] = the first j maximising x[o, j] for reductions with inner = 1.</summary>
    internal static void ArgMaxRows(ArrayView<float> x, ArrayView<int> y, int outer, int length)
    {
        var values = SharedMemory.Allocate<float>(MaxGroup);
        var indices = SharedMemory.Allocate<int>(MaxGroup);
        int t = Group.IdxX;
        for (int o = Grid.IdxX; o < outer; o += Grid.DimX)
        {
            float best = float.NegativeInfinity;
            int at = int.MaxValue;
            for (int j = t; j < length; j += Group.DimX)
            {
                float v = x[o * length + j];
                if (Better(v, j, best, at))
                {
                    best = v;
                    at = j;
                }
            }
            values[t] = best;
            indices[t] = at;
            Group.Barrier();
            for (int s = Group.DimX / 2; s > 0; s >>= 1)
            {
                if (t < s && Better(values[t + s], indices[t + s], values[t], indices[t]))
                {
                    values[t] = values[t + s];
                    indices[t] = indices[t + s];
                }
                Group.Barrier();
            }
            // A row of only −∞ leaves no candidate better than the start: its first element is the answer.
            if (t == 0) y[o] = indices[0] == int.MaxValue ? 0 : indices[0];
            Group.Barrier();
        }
    }

    /// <summary>Reductions with inner &gt; 1: one thread per (o, i) walks j in order. mode 0: scaled sum, 1: max, 2: argmax (into yi).</summary>
    internal static void ReduceColumns(ArrayView<float> x, ArrayView<float> y, ArrayView<int> yi, int outer, int length, int inner,
        float scale, int mode)
    {
        int n = outer * inner;
        for (int e = Grid.GlobalIndex.X; e < n; e += Grid.DimX * Group.DimX)
        {
            int o = e / inner, i = e - o * inner, start = o * length * inner + i;
            if (mode == 0)
            {
                float s = 0f;
                for (int j = 0; j < length; j++) s += x[start + j * inner];
                y[e] = s * scale;
            }
            else if (mode == 1)
            {
                float m = x[start];
                for (int j = 1; j < length; j++) m = MaxNaN(m, x[start + j * inner]);
                y[e] = m;
            }
            else
            {
                float best = x[start];
                int at = 0;
                for (int j = 1; j < length; j++)
                {
                    float v = x[start + j * inner];
                    if (Better(v, j, best, at))
                    {
                        best = v;
                        at = j;
                    }
                }
                yi[e] = at;
            }
        }
    }
}
