using System.Runtime.Intrinsics;
using Engine.Ops;
using Engine.Random;
using Engine.Simd;

namespace Engine.Cpu;

/// <summary>The CPU backend: SIMD loops (TensorPrimitives, and generic loops at the processor's width) spread over all cores.</summary>
internal sealed unsafe partial class CpuBackend : IBackend
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
                float* ar = ap + plan.RowOffset(0, r) + (long)c0 * sa, br = bp + plan.RowOffset(1, r) + (long)c0 * sb;
                BinaryRow<TOp>(ar, sa, br, sb, yp + (long)r * inner + c0, n);
            }
        });
    }

    /// <summary>One innermost row; each input steps by 1 or repeats one value (stride 0).</summary>
    static void BinaryRow<TOp>(float* a, int sa, float* b, int sb, float* y, int n) where TOp : struct, IBinaryOp
    {
        if (VectorWidth.Bits == 512) BinaryRow<TOp, Simd512, Vector512<float>>(a, sa, b, sb, y, n);
        else if (VectorWidth.Bits == 256) BinaryRow<TOp, Simd256, Vector256<float>>(a, sa, b, sb, y, n);
        else BinaryRow<TOp, Simd128, Vector128<float>>(a, sa, b, sb, y, n);
    }

    // The tail goes through one zero-padded vector, so every element sees the same arithmetic at every width.
    static void BinaryRow<TOp, TSimd, TVector>(float* a, int sa, float* b, int sb, float* y, int n)
        where TOp : struct, IBinaryOp where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        if (sa == 1 && sb == 1)
            for (; i <= n - w; i += w) TSimd.Store(TOp.Apply<TSimd, TVector>(TSimd.Load(a + i), TSimd.Load(b + i)), y + i);
        else if (sa == 1)
        {
            var vb = TSimd.Broadcast(*b);
            for (; i <= n - w; i += w) TSimd.Store(TOp.Apply<TSimd, TVector>(TSimd.Load(a + i), vb), y + i);
        }
        else if (sb == 1)
        {
            var va = TSimd.Broadcast(*a);
            for (; i <= n - w; i += w) TSimd.Store(TOp.Apply<TSimd, TVector>(va, TSimd.Load(b + i)), y + i);
        }
        else
        {
            float* one = stackalloc float[16];
            TSimd.Store(TOp.Apply<TSimd, TVector>(TSimd.Broadcast(*a), TSimd.Broadcast(*b)), one);
            new Span<float>(y, n).Fill(one[0]);
            return;
        }
        if (i == n) return;
        float* ta = stackalloc float[16], tb = stackalloc float[16];
        for (int j = 0; j < w; j++)
        {
            ta[j] = i + j < n ? a[(long)(i + j) * sa] : 0f;
            tb[j] = i + j < n ? b[(long)(i + j) * sb] : 0f;
        }
        TSimd.Store(TOp.Apply<TSimd, TVector>(TSimd.Load(ta), TSimd.Load(tb)), ta);
        new ReadOnlySpan<float>(ta, n - i).CopyTo(new Span<float>(y + i, n - i));
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y, Broadcast plan)
    {
        float* cp = Ptr(cond), ap = Ptr(a), bp = Ptr(b), yp = Ptr(y);
        int inner = plan.Inner, sc = plan.Strides[0][^1], sa = plan.Strides[1][^1], sb = plan.Strides[2][^1];
        var (tile, perRow, count) = Tiles(plan.Rows, inner);
        CpuParallel.For(count, Math.Max(1, ElementGrain / tile), (start, end) =>
        {
            for (int k = start; k < end; k++)
            {
                int r = k / perRow, c0 = k % perRow * tile, n = Math.Min(tile, inner - c0);
                float* c = cp + plan.RowOffset(0, r) + (long)c0 * sc, av = ap + plan.RowOffset(1, r) + (long)c0 * sa;
                float* bv = bp + plan.RowOffset(2, r) + (long)c0 * sb, o = yp + (long)r * inner + c0;
                int i = sc == 1 && sa == 1 && sb == 1 ? SelectRow(c, av, bv, o, n) : 0;
                for (; i < n; i++) o[i] = c[i * sc] != 0f ? av[i * sa] : bv[i * sb];
            }
        });
    }

    /// <summary>o[i] = c[i] ≠ 0 ? a[i] : b[i] over whole vectors; returns how many elements it wrote.</summary>
    static int SelectRow(float* c, float* a, float* b, float* o, int n) => VectorWidth.Bits switch
    {
        512 => SelectRow<Simd512, Vector512<float>>(c, a, b, o, n),
        256 => SelectRow<Simd256, Vector256<float>>(c, a, b, o, n),
        _ => SelectRow<Simd128, Vector128<float>>(c, a, b, o, n),
    };

    static int SelectRow<TSimd, TVector>(float* c, float* a, float* b, float* o, int n) where TSimd : struct, ISimd<TVector> where TVector : struct
    {
        int w = TSimd.Count, i = 0;
        for (; i <= n - w; i += w)
        {
            var keep = TSimd.Not(TSimd.Equals(TSimd.Load(c + i), TSimd.Zero));
            TSimd.Store(TSimd.Select(keep, TSimd.Load(a + i), TSimd.Load(b + i)), o + i);
        }
        return i;
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

}
