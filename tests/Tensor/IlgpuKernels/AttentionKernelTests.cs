using Engine.Autograd;
using Engine.Ilgpu.Kernels;
using Engine.Tests.Support;

namespace Engine.Tests.IlgpuKernels;

/// <summary>
/// The fused attention kernels on the CPU accelerator against the CPU backend's composition
/// (<see cref="Variable.Attention"/>: matmul, softmax, matmul, and their gradients) and a float64 logsumexp.
/// Both sides are float32 sums of at most 64 terms of magnitude ≲ 1 in different orders, with exp in
/// between: differences are a few 1e-7; atol = 2e-5, rtol = 1e-4 leaves margin and still catches any
/// wrong tile, mask or causal index (those move values by ≳ 1e-2).
/// </summary>
[Collection(nameof(IlgpuKernelCollection))]
public sealed class AttentionKernelTests
{
    const double Atol = 2e-5, Rtol = 1e-4;

    /// <summary>Mask values: uniform in [−1, 1], with −∞ at roughly a fifth of the positions but never at key 0.</summary>
    static float[] Mask(int blocks, int t, int s, int seed)
    {
        var m = Data.Uniform(blocks * t * s, seed);
        var r = new System.Random(seed);
        for (int e = 0; e < m.Length; e++)
            if (e % s != 0 && r.Next(5) == 0) m[e] = float.NegativeInfinity;
        return m;
    }

    static void Check(KernelHost host, int batch, int heads, int t, int s, int d, int dv, bool causal, int[]? maskShape)
    {
        int bh = batch * heads, seed = bh * 131 + t * 17 + s * 7 + d;
        float[] q = Data.Uniform(bh * t * d, seed), k = Data.Uniform(bh * s * d, seed + 1), v = Data.Uniform(bh * s * dv, seed + 2);
        float[] g = Data.Uniform(bh * t * dv, seed + 3);
        float[]? mask = maskShape is null ? null : Mask(new Shape(maskShape).Numel / (t * s), t, s, seed + 4);

        // The CPU composition, values and gradients; the scope frees what the composition saves for its backward pass.
        using var scope = TensorScope.Open();
        using var mt = mask is null ? null : Engine.Tensor.FromArray(mask, new Shape(maskShape!));
        using var qv = Variable.Parameter(Engine.Tensor.FromArray(q, new Shape(batch, heads, t, d)));
        using var kv = Variable.Parameter(Engine.Tensor.FromArray(k, new Shape(batch, heads, s, d)));
        using var vv = Variable.Parameter(Engine.Tensor.FromArray(v, new Shape(batch, heads, s, dv)));
        using var ov = Variable.Attention(qv, kv, vv, mt, causal);
        using var gt = Engine.Tensor.FromArray(g, new Shape(batch, heads, t, dv));
        ov.Backward(gt);

        // The fused kernels.
        // The plan comes from the Tensor layer's policy, as it will on an ILGPU device.
        var shape = Engine.Tensor.PlanAttention(qv.Shape, kv.Shape, vv.Shape, mt?.Shape, causal)
            ?? throw new InvalidOperationException("mask not plannable");
        using var dq_ = host.Upload(q);
        using var dk_ = host.Upload(k);
        using var dv_ = host.Upload(v);
        using var dm = host.Upload(mask ?? []);
        using var dO = host.Upload(g);
        using var o = host.Upload(new float[bh * t * dv]);
        using var lse = host.Upload(new float[bh * t]);
        using var delta = host.Upload(new float[bh * t]);
        using var gq = host.Upload(Data.Uniform(q.Length, 1));
        using var gk = host.Upload(Data.Uniform(k.Length, 2));
        using var gv = host.Upload(Data.Uniform(v.Length, 3));
        ILGPU.Runtime.ArrayView1D<float, ILGPU.Stride1D.Dense>? maskView = mask is null ? null : dm.View.SubView(0, mask.Length);
        var attention = host.Attention;
        attention.Forward(dq_.View, dk_.View, dv_.View, maskView, o.View, lse.View, shape);
        attention.Backward(dq_.View, dk_.View, dv_.View, maskView, o.View, lse.View, dO.View, gq.View, gk.View, gv.View, delta.View, shape);

        string what = $"attention b={batch} h={heads} t={t} s={s} d={d} dv={dv} causal={causal} " +
            $"mask={(maskShape is null ? "none" : string.Join('x', maskShape))}";
        Tolerance.AssertClose(host.Download(o.View, o.View.IntLength), ov.Value.ToArray(), Atol, Rtol, what + " O");
        Tolerance.AssertClose(host.Download(lse.View, lse.View.IntLength), LogSumExp(q, k, mask, shape), Atol, Rtol, what + " lse");
        Tolerance.AssertClose(host.Download(gq.View, q.Length), qv.Grad!.ToArray(), Atol, Rtol, what + " dQ");
        Tolerance.AssertClose(host.Download(gk.View, k.Length), kv.Grad!.ToArray(), Atol, Rtol, what + " dK");
        Tolerance.AssertClose(host.Download(gv.View, v.Length), vv.Grad!.ToArray(), Atol, Rtol, what + " dV");
    }

    /// <summary>lse[bh, i] = ln Σ_j e^(scale·q_i·k_j + mask_ij) over the visible keys, in float64.</summary>
    static double[] LogSumExp(float[] q, float[] k, float[]? mask, AttentionPlan p)
    {
        var r = new double[p.BatchHeads * p.T];
        for (int z = 0; z < p.BatchHeads; z++)
        {
            long maskBase = (long)(z / p.Heads) * p.MaskBatchStride + (long)(z % p.Heads) * p.MaskHeadStride;
            for (int i = 0; i < p.T; i++)
            {
                double sum = 0;
                for (int j = 0; j < p.S && (!p.Causal || j <= i + p.S - p.T); j++)
                {
                    double dot = 0;
                    for (int c = 0; c < p.D; c++) dot += (double)q[(z * p.T + i) * p.D + c] * k[(z * p.S + j) * p.D + c];
                    sum += Math.Exp(dot * p.Scale + (mask is null ? 0 : mask[maskBase + i * p.S + j]));
                }
                r[z * p.T + i] = Math.Log(sum);
            }
        }
        return r;
    }

    [Fact]
    public void CausalSelfAttentionWithRaggedTiles() => Check(KernelHost.Cpu, 1, 3, 37, 37, 16, 16, causal: true, maskShape: null);

    [Fact]
    public void CausalAcrossTwoForwardGroupsAndThreeBackwardGroups() =>
        Check(KernelHost.Cpu, 1, 1, 70, 70, 12, 8, causal: true, maskShape: null);

    [Fact]
    public void CausalWithMoreKeysThanQueriesAndWiderValues() => Check(KernelHost.Cpu, 2, 1, 5, 40, 8, 12, causal: true, maskShape: null);

    [Fact]
    public void PerBatchHeadMaskWithoutCausalLimit() => Check(KernelHost.Cpu, 2, 2, 9, 20, 64, 64, causal: false, maskShape: [2, 2, 9, 20]);

    [Fact]
    public void PerBatchMaskSharedAcrossHeads() => Check(KernelHost.Cpu, 2, 2, 6, 17, 4, 4, causal: false, maskShape: [2, 1, 6, 17]);

    [Fact]
    public void SharedMaskWithCausalLimit() => Check(KernelHost.Cpu, 2, 1, 33, 33, 32, 32, causal: true, maskShape: [33, 33]);

    [Theory]
    [InlineData(new[] { 7, 9 }, 0, 0)]
    [InlineData(new[] { 3, 7, 9 }, 0, 63)]
    [InlineData(new[] { 1, 3, 7, 9 }, 0, 63)]
    [InlineData(new[] { 2, 1, 7, 9 }, 63, 0)]
    [InlineData(new[] { 2, 3, 7, 9 }, 189, 63)]
    [InlineData(new[] { 1, 1, 7, 9 }, 0, 0)]
    public void PlanMapsWholeBlockMaskBroadcastsToStrides(int[] mask, int batchStride, int headStride)
    {
        var plan = Engine.Tensor.PlanAttention(new Shape(2, 3, 7, 4), new Shape(2, 3, 9, 4), new Shape(2, 3, 9, 5), new Shape(mask), causal: true);
        Assert.Equal(new AttentionPlan(6, 7, 9, 4, 5, true, 0.5f, 3, batchStride, headStride), plan);
    }

    [Theory]
    [InlineData(new[] { 7, 1 })]
    [InlineData(new[] { 1, 9 })]
    [InlineData(new[] { 2, 2, 7, 9 })]
    [InlineData(new[] { 4, 2, 3, 7, 9 })]
    public void PlanDeclinesMasksThatBroadcastWithinABlock(int[] mask) =>
        Assert.Null(Engine.Tensor.PlanAttention(new Shape(2, 3, 7, 4), new Shape(2, 3, 9, 4), new Shape(2, 3, 9, 4), new Shape(mask),
            causal: false));

    [Fact]
    public void CpuBackendKeepsTheComposition()
    {
        using var q = Data.Tensor([1, 4, 8], 1);
        Assert.False(Engine.Tensor.TryFusedAttention(q, q, q, null, causal: true, out var o, out var lse));
        Assert.Null(o);
        Assert.Null(lse);
    }

    [Fact]
    public void RowThatSeesNoKeyGivesZerosNotNaN()
    {
        var host = KernelHost.Cpu;
        // Query 1's only keys are masked out: O and every gradient it touches must stay finite (0 for its row).
        const int t = 2, s = 3, d = 2;
        float[] q = [1, 0, 0, 1], k = [1, 1, 0, 1, 1, 0], v = [1, 2, 3, 4, 5, 6], g = [1, 1, 1, 1];
        float ninf = float.NegativeInfinity;
        float[] mask = [0, 0, 0, ninf, ninf, ninf];
        var shape = new AttentionPlan(1, t, s, d, d, Causal: false, Scale: 1f);
        using var bq = host.Upload(q);
        using var bk = host.Upload(k);
        using var bv = host.Upload(v);
        using var bm = host.Upload(mask);
        using var bg = host.Upload(g);
        using var o = host.Upload(new float[t * d]);
        using var lse = host.Upload(new float[t]);
        using var delta = host.Upload(new float[t]);
        using var gq = host.Upload(new float[q.Length]);
        using var gk = host.Upload(new float[k.Length]);
        using var gv = host.Upload(new float[v.Length]);
        host.Attention.Forward(bq.View, bk.View, bv.View, bm.View, o.View, lse.View, shape);
        host.Attention.Backward(bq.View, bk.View, bv.View, bm.View, o.View, lse.View, bg.View, gq.View, gk.View, gv.View, delta.View, shape);
        var out_ = host.Download(o.View, t * d);
        // Row 0: scores (1, 0, 1) → softmax (e, 1, e)/(2e + 1); O = Σ p_j v_j.
        double e = Math.E, z = 2 * e + 1;
        Tolerance.AssertClose(out_, new[] { (e * 1 + 3 + e * 5) / z, (e * 2 + 4 + e * 6) / z, 0, 0 }, 1e-6, 1e-6, "O");
        Assert.Equal(float.NegativeInfinity, host.Download(lse.View, t)[1]);
        foreach (var grad in new[] { gq, gk, gv })
            Assert.All(host.Download(grad.View, grad.View.IntLength), x => Assert.True(float.IsFinite(x)));
        Assert.Equal([0f, 0f], host.Download(gq.View, q.Length)[2..]);
    }

    [Fact]
    public void RejectsMaskShorterThanThePlanReads()
    {
        var host = KernelHost.Cpu;
        var plan = new AttentionPlan(4, 3, 5, 2, 2, Causal: false, Scale: 1f, Heads: 2, MaskBatchStride: 30, MaskHeadStride: 15);
        Assert.Equal(60, AttentionKernels.MaskExtent(plan));
        using var b = host.Upload(new float[60]);
        var ex = Assert.Throws<ArgumentException>(() => host.Attention.Forward(b.View, b.View, b.View, b.View.SubView(0, 59), b.View, b.View, plan));
        Assert.Contains("mask", ex.Message);
    }

    [Fact]
    public void RejectsHeadsLargerThanTheKernelsHold()
    {
        var host = KernelHost.Cpu;
        using var b = host.Upload(new float[65 * 2]);
        var shape = new AttentionPlan(1, 1, 1, 65, 65, Causal: true, Scale: 1f);
        Assert.Throws<NotSupportedException>(() => host.Attention.Forward(b.View, b.View, b.View, null, b.View, b.View, shape));
    }

    [Fact]
    public void CudaMatchesComposition()
    {
        var host = KernelHost.Cuda;
        Check(host, 2, 3, 200, 200, 64, 64, causal: true, maskShape: null);
        Check(host, 1, 2, 70, 300, 40, 24, causal: true, maskShape: [1, 2, 70, 300]);
        Check(host, 2, 2, 65, 129, 64, 64, causal: false, maskShape: [65, 129]);
    }
}
