using System.Runtime.Intrinsics;
using Engine.Ops;
using Engine.Random;

namespace Engine.Cpu;

/// <summary>The CPU backend: SIMD loops (TensorPrimitives, Vector512) spread over all cores.</summary>
public sealed unsafe partial class CpuBackend : IBackend
{
    /// <summary>Element-wise work per thread below which an op stays on one core.</summary>
    const int ElementGrain = 1 << 15;

    /// <summary>
    /// Broadcast ops cut innermost rows longer than this into tiles, so that one long row (what two
    /// same-shape operands coalesce into) is still spread over the cores. A multiple of the SIMD width.
    /// </summary>
    const int MaxTile = 1 << 16;

    /// <summary>Tiles of at most <see cref="MaxTile"/> elements covering <paramref name="rows"/> rows of <paramref name="inner"/>.</summary>
    static (int Tile, int PerRow, int Count) Tiles(int rows, int inner)
    {
        int tile = Math.Min(inner, MaxTile), perRow = (inner + tile - 1) / tile;
        return (tile, perRow, rows * perRow);
    }

    /// <inheritdoc/>
    public DeviceKind Kind => DeviceKind.Cpu;

    /// <inheritdoc/>
    public Storage Allocate(int length) => new CpuStorage(this, length);

    /// <inheritdoc/>
    public Storage AllocateUninitialized(int length) => new CpuStorage(this, length, zero: false);

    static float* Ptr(Tensor t) => ((CpuStorage)t.Storage).Pointer + t.Offset;

    static Span<float> Span(Tensor t) => new(Ptr(t), t.Numel);

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<float> src, Storage dst, int offset) =>
        src.CopyTo(new Span<float>(((CpuStorage)dst).Pointer + offset, src.Length));

    /// <inheritdoc/>
    public void Read(Storage src, int offset, Span<float> dst) =>
        new ReadOnlySpan<float>(((CpuStorage)src).Pointer + offset, dst.Length).CopyTo(dst);

    /// <inheritdoc/>
    public void Fill(Tensor y, float value) => Span(y).Fill(value);

    /// <inheritdoc/>
    public void CopyStrided(Tensor src, Tensor dst, StridedCopy plan)
    {
        float* s = Ptr(src) + plan.SrcOffset, d = Ptr(dst) + plan.DstOffset;
        int rank = plan.Shape.Length;
        int inner = plan.Shape[^1], si = plan.SrcStrides[^1], di = plan.DstStrides[^1];
        int rows = 1;
        for (int k = 0; k < rank - 1; k++) rows *= plan.Shape[k];
        CpuParallel.For(rows, Math.Max(1, ElementGrain / Math.Max(inner, 1)), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                int so = 0, dOff = 0, rem = r;
                for (int k = rank - 2; k >= 0; k--)
                {
                    int n = plan.Shape[k], idx = rem % n;
                    rem /= n;
                    so += idx * plan.SrcStrides[k];
                    dOff += idx * plan.DstStrides[k];
                }
                float* sp = s + so, dp = d + dOff;
                if (si == 1 && di == 1) new ReadOnlySpan<float>(sp, inner).CopyTo(new Span<float>(dp, inner));
                else for (int i = 0; i < inner; i++) dp[i * di] = sp[i * si];
            }
        });
    }

    /// <inheritdoc/>
    public void Unary<TOp>(Tensor x, Tensor y) where TOp : struct, IUnaryOp
    {
        float* xp = Ptr(x), yp = Ptr(y);
        CpuParallel.For(x.Numel, ElementGrain, (start, end) =>
            TOp.Apply(new ReadOnlySpan<float>(xp + start, end - start), new Span<float>(yp + start, end - start)));
    }

    /// <inheritdoc/>
    public void Binary<TOp>(Tensor a, Tensor b, Tensor y, Broadcast plan) where TOp : struct, IBinaryOp
    {
        float* ap = Ptr(a), bp = Ptr(b), yp = Ptr(y);
        int inner = plan.Inner, sa = plan.Strides[0][^1], sb = plan.Strides[1][^1];
        var (tile, perRow, count) = Tiles(plan.Rows, inner);
        CpuParallel.For(count, Math.Max(1, ElementGrain / tile), (start, end) =>
        {
            for (int k = start; k < end; k++)
            {
                int r = k / perRow, c0 = k % perRow * tile, n = Math.Min(tile, inner - c0);
                BinaryRow<TOp>(ap + plan.RowOffset(0, r) + (long)c0 * sa, sa, bp + plan.RowOffset(1, r) + (long)c0 * sb, sb, yp + (long)r * inner + c0, n);
            }
        });
    }

    /// <summary>One innermost row; each input steps by 1 or repeats one value (stride 0).</summary>
    static void BinaryRow<TOp>(float* a, int sa, float* b, int sb, float* y, int n) where TOp : struct, IBinaryOp
    {
        int w = Vector512<float>.Count, i = 0;
        if (sa == 1 && sb == 1)
        {
            for (; i <= n - w; i += w) TOp.Apply(Vector512.Load(a + i), Vector512.Load(b + i)).Store(y + i);
            for (; i < n; i++) y[i] = TOp.Apply(a[i], b[i]);
        }
        else if (sa == 1)
        {
            var vb = Vector512.Create(*b);
            for (; i <= n - w; i += w) TOp.Apply(Vector512.Load(a + i), vb).Store(y + i);
            for (; i < n; i++) y[i] = TOp.Apply(a[i], *b);
        }
        else if (sb == 1)
        {
            var va = Vector512.Create(*a);
            for (; i <= n - w; i += w) TOp.Apply(va, Vector512.Load(b + i)).Store(y + i);
            for (; i < n; i++) y[i] = TOp.Apply(*a, b[i]);
        }
        else new Span<float>(y, n).Fill(TOp.Apply(*a, *b));
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y, Broadcast plan)
    {
        float* cp = Ptr(cond), ap = Ptr(a), bp = Ptr(b), yp = Ptr(y);
        int inner = plan.Inner, sc = plan.Strides[0][^1], sa = plan.Strides[1][^1], sb = plan.Strides[2][^1];
        int w = Vector512<float>.Count;
        var (tile, perRow, count) = Tiles(plan.Rows, inner);
        CpuParallel.For(count, Math.Max(1, ElementGrain / tile), (start, end) =>
        {
            for (int k = start; k < end; k++)
            {
                int r = k / perRow, c0 = k % perRow * tile, n = Math.Min(tile, inner - c0);
                float* c = cp + plan.RowOffset(0, r) + (long)c0 * sc, av = ap + plan.RowOffset(1, r) + (long)c0 * sa, bv = bp + plan.RowOffset(2, r) + (long)c0 * sb, o = yp + (long)r * inner + c0;
                int i = 0;
                if (sc == 1 && sa == 1 && sb == 1)
                {
                    for (; i <= n - w; i += w)
                    {
                        var keep = ~Vector512.Equals(Vector512.Load(c + i), Vector512<float>.Zero);
                        Vector512.ConditionalSelect(keep, Vector512.Load(av + i), Vector512.Load(bv + i)).Store(o + i);
                    }
                }
                for (; i < n; i++) o[i] = c[i * sc] != 0f ? av[i * sa] : bv[i * sb];
            }
        });
    }

    /// <inheritdoc/>
    public void Random(Tensor y, Distribution distribution, ulong seed, ulong offset)
    {
        float* yp = Ptr(y);
        CpuParallel.For(y.Numel, 1 << 12, (start, end) =>
        {
            for (int i = start; i < end; i++)
                yp[i] = distribution == Distribution.Uniform ? Philox.Uniform(seed, offset + (ulong)i) : Philox.Normal(seed, offset + (ulong)i);
        });
    }

    /// <inheritdoc/>
    public void SampleCategorical(Tensor weights, Tensor y, int rows, int cols, ulong seed, ulong offset)
    {
        float* w = Ptr(weights);
        int* o = (int*)Ptr(y);
        for (int r = 0; r < rows; r++)
        {
            float* row = w + (long)r * cols;
            double total = 0;
            for (int j = 0; j < cols; j++) total += row[j];
            double u = Philox.Uniform(seed, offset + (ulong)r) * total, acc = 0;
            int pick = -1;
            for (int j = 0; j < cols; j++)
            {
                if (row[j] <= 0f) continue;
                pick = j;
                acc += row[j];
                if (u < acc) break;
            }
            o[r] = Math.Max(pick, 0);
        }
    }
}
