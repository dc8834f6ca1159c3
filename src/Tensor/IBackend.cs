using Engine.Ops;

namespace Engine;

/// <summary>
/// The narrow interface every device implements. A backend only computes: shapes, broadcasting, axes and
/// dtypes have been validated by <see cref="Tensor"/> before any method here is called, and every tensor
/// argument is contiguous and lives on this backend. Outputs are never inputs unless a method says so.
/// </summary>
internal interface IBackend
{
    /// <summary>The kind of device this backend drives.</summary>
    DeviceKind Kind { get; }

    /// <summary>Allocates <paramref name="length"/> zeroed 4-byte elements.</summary>
    Storage Allocate(int length);

    /// <summary>
    /// Allocates <paramref name="length"/> 4-byte elements with unspecified contents, for outputs an op
    /// overwrites completely; saves a full write pass over large outputs. Defaults to <see cref="Allocate"/>.
    /// </summary>
    Storage AllocateUninitialized(int length) => Allocate(length);

    /// <summary>Waits until every operation queued so far has finished (a no-op where ops run synchronously); for timing.</summary>
    void Synchronize()
    {
    }

    /// <summary>Copies host data into <paramref name="dst"/> starting at element <paramref name="offset"/>.</summary>
    void Write(ReadOnlySpan<float> src, Storage dst, int offset);

    /// <summary>Copies device data starting at element <paramref name="offset"/> to the host.</summary>
    void Read(Storage src, int offset, Span<float> dst);

    /// <summary>y[i] = value.</summary>
    void Fill(Tensor y, float value);

    /// <summary>Copies <paramref name="plan"/>.Shape elements between two strided layouts.</summary>
    void CopyStrided(Tensor src, Tensor dst, StridedCopy plan);

    /// <summary>y = f(x) element-wise; x and y have the same length and may be the same tensor.</summary>
    void Unary<TOp>(Tensor x, Tensor y) where TOp : struct, IUnaryOp;

    /// <summary>y = f(a, b) element-wise over the broadcast <paramref name="plan"/>; y may be a (then it is not broadcast).</summary>
    void Binary<TOp>(Tensor a, Tensor b, Tensor y, Broadcast plan) where TOp : struct, IBinaryOp;

    /// <summary>y = cond ≠ 0 ? a : b over the broadcast <paramref name="plan"/> (inputs in that order).</summary>
    void Where(Tensor cond, Tensor a, Tensor b, Tensor y, Broadcast plan);

    /// <summary>y[o, i] = scale · Σ_j x[o, j, i].</summary>
    void Sum(Tensor x, Tensor y, Reduction r, float scale);

    /// <summary>y[o, i] = max_j x[o, j, i].</summary>
    void Max(Tensor x, Tensor y, Reduction r);

    /// <summary>y[o, i] = the first j that maximises x[o, j, i] (an Int32 tensor).</summary>
    void ArgMax(Tensor x, Tensor y, Reduction r);

    /// <summary>c = op(a) · op(b) for each batch; with <paramref name="accumulate"/>, c += op(a) · op(b).</summary>
    void Matmul(Tensor a, Tensor b, Tensor c, MatmulPlan plan, bool accumulate);

    /// <summary>Softmax (or log-softmax) of each row of a [rows, cols] matrix.</summary>
    void Softmax(Tensor x, Tensor y, int rows, int cols, bool log);

    /// <summary>Layer norm of each row; writes y and the per-row mean and 1/σ for the backward pass.</summary>
    void LayerNorm(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, float eps);

    /// <summary>y[r, :] = table[ids[r], :]; ids are in range.</summary>
    void Gather(Tensor table, Tensor ids, Tensor y, int rows, int cols);

    /// <summary>table[ids[r], :] += src[r, :], in a fixed order; ids are in range.</summary>
    void ScatterAdd(Tensor src, Tensor ids, Tensor table, int rows, int cols);

    /// <summary>losses[r] = logsumexp(logits[r]) − logits[r, targets[r]], or 0 where targets[r] = ignoreIndex.</summary>
    void CrossEntropy(Tensor logits, Tensor targets, Tensor losses, int rows, int cols, int ignoreIndex);

    /// <summary>y[r, c] = gelu(x[r, c] + bias[c]), fused.</summary>
    void BiasGelu(Tensor x, Tensor bias, Tensor y, int rows, int cols);

    /// <summary>dx = y ⊙ (dy − Σ dy ⊙ y) per row for softmax; dx = dy − e^y · Σ dy for log-softmax (y is the forward output).</summary>
    void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int cols, bool log);

    /// <summary>Layer-norm gradients: writes dx, and adds this call's dweight and dbias into the given tensors (fixed order).</summary>
    void LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight, Tensor dbias, int rows,
        int cols);

    /// <summary>dlogits[r] = scale · (softmax(logits[r]) − onehot(targets[r])), or 0 where targets[r] = ignoreIndex.</summary>
    void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dlogits, int rows, int cols, int ignoreIndex, float scale);

    /// <summary>One AdamW step over every parameter in <paramref name="slots"/>, as a single fused update.</summary>
    void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep step);

    /// <summary>Fills y with element i of the Philox stream (seed, offset + i) in the given distribution.</summary>
    void Random(Tensor y, Distribution distribution, ulong seed, ulong offset);
}

/// <summary>A reduction over the middle axis of an [outer, length, inner] view.</summary>
internal readonly record struct Reduction(int Outer, int Length, int Inner);

/// <summary>A (batched) matrix product. Batch strides of 0 broadcast an operand across the batch.</summary>
internal readonly record struct MatmulPlan(int Batch, int M, int N, int K, bool TransA, bool TransB, int BatchStrideA, int BatchStrideB);

/// <summary>Copy of an n-dimensional block between two strided layouts (in elements, relative to each tensor's offset).</summary>
internal sealed record StridedCopy(int[] Shape, int[] SrcStrides, int SrcOffset, int[] DstStrides, int DstOffset);

/// <summary>Distributions of <see cref="IBackend.Random"/>.</summary>
internal enum Distribution
{
    /// <summary>Uniform on [0, 1).</summary>
    Uniform,

    /// <summary>Standard normal.</summary>
    Normal,
}
