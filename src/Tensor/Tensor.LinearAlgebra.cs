namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product op(a) · op(b), where op transposes the last two axes when its flag is set, without
    /// materialising the transpose. a is [..., M, K] ([..., K, M] with <paramref name="transA"/>), b is
    /// [..., K, N] ([..., N, K] with <paramref name="transB"/>). Leading batch axes must be equal, or one
    /// operand may have none (or only ones) and is then shared by every batch.
    /// </summary>
    /// <remarks>
    /// Narrower than <c>torch.matmul</c>: batch axes do not broadcast against each other beyond that sharing, and 1-D
    /// operands are not promoted to matrices.
    /// </remarks>
    public static Tensor Matmul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        var plan = PlanMatmul(a, b, transA, transB, out var shape);
        // Every backend writes each element of C when K > 0, so only an empty sum needs the zeros.
        var c = plan.K > 0 ? Uninitialized(shape, a.Device) : Zeros(shape, a.Device);
        if (c.Numel > 0 && plan.K > 0) a.Backend.Matmul(a, b, c, plan, accumulate: false);
        return c;
    }

    /// <summary>c += op(a) · op(b), in place; c must have exactly the product's shape.</summary>
    public static void MatmulAccumulate(Tensor c, Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        var plan = PlanMatmul(a, b, transA, transB, out var shape);
        c.RequireDType(DType.Float32, "matmul_acc");
        c.RequireSameDevice(a, "matmul_acc");
        if (c.Shape != shape) throw new TensorShapeException("matmul_acc",
            $"output {c.Shape} does not match the product of {a.Shape} and {b.Shape} ({shape})");
        if (c.Numel > 0) a.Backend.Matmul(a, b, c, plan, accumulate: true);
        c.MarkWritten();
    }

    static MatmulPlan PlanMatmul(Tensor a, Tensor b, bool transA, bool transB, out Shape shape)
    {
        const string op = "matmul";
        a.RequireDType(DType.Float32, op);
        b.RequireDType(DType.Float32, op);
        a.RequireSameDevice(b, op);
        if (a.Rank < 2 || b.Rank < 2) throw new TensorShapeException(op, $"needs operands of rank ≥ 2, got {a.Shape} and {b.Shape}");
        int m = transA ? a.Shape[-1] : a.Shape[-2];
        int ka = transA ? a.Shape[-2] : a.Shape[-1];
        int kb = transB ? b.Shape[-1] : b.Shape[-2];
        int n = transB ? b.Shape[-2] : b.Shape[-1];
        if (ka != kb)
            throw new TensorShapeException(op,
                $"inner dimensions differ: {a.Shape}{(transA ? "ᵀ" : "")} · {b.Shape}{(transB ? "ᵀ" : "")} ({ka} vs {kb})");

        int[] batchA = a.Shape.Dims[..^2].ToArray(), batchB = b.Shape.Dims[..^2].ToArray();
        int countA = new Shape(batchA).Numel, countB = new Shape(batchB).Numel;
        int[] batch;
        if (batchA.AsSpan().SequenceEqual(batchB)) batch = batchA;
        else if (countB == 1 && batchA.Length >= batchB.Length) batch = batchA;
        else if (countA == 1 && batchB.Length >= batchA.Length) batch = batchB;
        else throw new TensorShapeException(op, $"batch dimensions of {a.Shape} and {b.Shape} must match, or one operand must have none");

        shape = new Shape([.. batch, m, n]);
        int count = new Shape(batch).Numel;
        return new MatmulPlan(count, m, n, ka, transA, transB,
            countA == 1 ? 0 : m * ka, countB == 1 ? 0 : ka * n);
    }
}
