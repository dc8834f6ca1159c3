namespace Engine.Autograd;

public sealed partial class Variable
{
    /// <summary>op(a) · op(b) with the batch rules of <see cref="Tensor.Matmul"/>.</summary>
    public static Variable Matmul(Variable a, Variable b, bool transA = false, bool transB = false)
    {
        // A batched a against a shared 2-D b is one GEMM over the flattened rows: faster forward and backward.
        if (a.Shape.Rank > 2 && b.Shape.Rank == 2 && !transA)
        {
            int k = a.Shape[-1];
            // The intermediate variables stay alive: the graph saves their values.
            var flat = a.Reshape(-1, k);
            var y2 = Matmul(flat, b, false, transB);
            return y2.Reshape([.. a.Shape.Dims[..^1], y2.Shape[1]]);
        }
        var y = Tensor.Matmul(a.Value, b.Value, transA, transB);
        return Record("matmul", y, [a, b], g =>
        {
            Tensor? ga = null, gb = null;
            if (a.RequiresGrad)
            {
                // C = op(A)·op(B): d op(A) = dC·op(B)ᵀ, and dA is that, transposed back when A was.
                using var full = transA ? Tensor.Matmul(b.Value, g, transB, true) : Tensor.Matmul(g, b.Value, false, !transB);
                ga = Tensor.SumTo(full, a.Shape);
            }
            if (b.RequiresGrad)
            {
                using var full = transB ? Tensor.Matmul(g, a.Value, true, transA) : Tensor.Matmul(a.Value, g, !transA, false);
                gb = Tensor.SumTo(full, b.Shape);
            }
            return [ga, gb];
        }, a.Value, b.Value);
    }

    /// <summary>
    /// x · W + b, fused: x is [..., in], <paramref name="weight"/> is [in, out] (GPT-2's Conv1D layout) and
    /// <paramref name="bias"/>, if any, is [out]. The leading axes are flattened into one GEMM.
    /// </summary>
    /// <remarks>
    /// Unlike PyTorch's <c>nn.Linear</c>, whose weight is [out, in] and which computes x · Wᵀ, the weight here is
    /// [in, out]: a <c>torch.nn.Linear</c> weight loads transposed (<c>weight.T</c>); a Hugging Face GPT-2 Conv1D
    /// weight loads as it is.
    /// </remarks>
    public static Variable Linear(Variable x, Variable weight, Variable? bias = null)
    {
        if (weight.Shape.Rank != 2 || x.Shape.Rank == 0 || x.Shape[-1] != weight.Shape[0])
            throw new TensorShapeException("linear", $"input {x.Shape} does not match weight {weight.Shape} ([in, out])");
        if (bias is not null && bias.Shape != new Shape(weight.Shape[1]))
            throw new TensorShapeException("linear", $"bias {bias.Shape} must be [{weight.Shape[1]}] for weight {weight.Shape}");
        int inF = weight.Shape[0], outF = weight.Shape[1];
        var lead = x.Shape.Dims[..^1].ToArray();
        using var x2 = x.Value.Reshape(-1, inF);
        var y2 = Tensor.Matmul(x2, weight.Value);
        if (bias is not null) y2.AddInPlace(bias.Value);
        var y = y2.Reshape([.. lead, outF]);
        y2.Dispose();
        Variable[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Record("linear", y, inputs, g =>
        {
            using var g2 = g.Reshape(-1, outF);
            Tensor? gx = null;
            if (x.RequiresGrad)
            {
                using var gx2 = Tensor.Matmul(g2, weight.Value, transB: true);
                gx = gx2.Reshape(x.Shape.Dims);
            }
            Tensor? gw = null;
            if (weight.RequiresGrad)
            {
                using var xs = x.Value.Reshape(-1, inF);
                gw = Tensor.Matmul(xs, g2, transA: true);
            }
            var grads = new Tensor?[inputs.Length];
            grads[0] = gx;
            grads[1] = gw;
            if (bias is { RequiresGrad: true }) grads[2] = g2.Sum(0);
            return grads;
        }, x.Value, weight.Value);
    }
}
