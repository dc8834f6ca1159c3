namespace Engine.Autograd;

/// <summary>
/// A tensor that takes part in reverse-mode differentiation. Each op on variables returns a new variable
/// whose <see cref="Node"/> holds the inputs and, beside the forward computation, the closure that turns
/// the output's gradient into the inputs' gradients. <see cref="Backward"/> walks that graph in reverse
/// topological order and accumulates (+=) into the <see cref="Grad"/> of every leaf that requires it.
/// </summary>
public sealed partial class Variable : IDisposable
{
    /// <summary>Wraps <paramref name="value"/> (the variable takes ownership of it).</summary>
    public Variable(Tensor value, bool requiresGrad = false)
    {
        if (requiresGrad && value.DType != DType.Float32)
            throw new TensorShapeException("variable", $"only float32 tensors can require gradients, got {value.DType} {value.Shape}");
        Value = value;
        RequiresGrad = requiresGrad;
    }

    /// <summary>A trainable leaf: requires a gradient, and its value and gradient outlive any <see cref="TensorScope"/>.</summary>
    public static Variable Parameter(Tensor value, string? name = null)
    {
        TensorScope.Untrack(value);
        return new Variable(value, requiresGrad: true) { Name = name };
    }

    /// <summary>The forward value.</summary>
    public Tensor Value { get; }

    /// <summary>The accumulated gradient of a leaf (null until a backward pass reaches it).</summary>
    public Tensor? Grad { get; private set; }

    /// <summary>Whether gradients flow to (or through) this variable.</summary>
    public bool RequiresGrad { get; }

    /// <summary>An optional name (parameter names in checkpoints and messages).</summary>
    public string? Name { get; init; }

    /// <summary>The op that produced this variable; null for leaves.</summary>
    internal Node? Creator { get; private set; }

    /// <summary>True for variables created by the user rather than by an op.</summary>
    public bool IsLeaf => Creator is null;

    /// <summary>The shape of <see cref="Value"/>.</summary>
    public Shape Shape => Value.Shape;

    /// <summary>A variable sharing this value that is cut from the graph and requires no gradient.</summary>
    public Variable Detach() => new(Value.Reshape(Shape.Dims));

    /// <summary>Drops the accumulated gradient.</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>Disposes the value and the gradient.</summary>
    public void Dispose()
    {
        Value.Dispose();
        ZeroGrad();
    }

    /// <inheritdoc/>
    public override string ToString() => $"Variable({Name ?? Creator?.Op ?? "leaf"}, {Shape}{(RequiresGrad ? ", requires grad" : "")})";

    /// <summary>
    /// Records an op: returns a variable holding <paramref name="value"/> that, when gradients are enabled
    /// and some input requires one, remembers how to back-propagate through it. Tensors in
    /// <paramref name="saved"/> are checked at backward time for in-place changes.
    /// </summary>
    internal static Variable Record(string op, Tensor value, Variable[] inputs, Func<Tensor, Tensor?[]> backward, params Tensor[] saved)
    {
        bool track = GradMode.Enabled && inputs.Any(i => i.RequiresGrad);
        if (!track) return new Variable(value);
        return new Variable(value, requiresGrad: true) { Creator = new Node(op, inputs, backward, saved) };
    }

    /// <summary>
    /// As <see cref="Record"/>, for an op whose backward pass needs tensors that only it holds (<paramref name="owned"/>: layer
    /// norm's statistics, attention's probabilities or log-sum-exps). They are freed with the graph after
    /// <see cref="Backward"/>, or at once when nothing is recorded, so they do not need a <see cref="TensorScope"/>.
    /// </summary>
    internal static Variable RecordOwning(string op, Tensor value, Variable[] inputs, Func<Tensor, Tensor?[]> backward, Tensor[] owned,
        params Tensor[] saved)
    {
        var result = Record(op, value, inputs, backward, saved);
        if (result.Creator is { } node) node.Own(owned);
        else foreach (var t in owned) t.Dispose();
        return result;
    }

    /// <summary>
    /// Back-propagates from this variable. Without <paramref name="gradient"/> the variable must hold one
    /// element (a loss). Leaf gradients accumulate across calls until <see cref="ZeroGrad"/>. The graph is
    /// freed afterwards unless <paramref name="retainGraph"/> is set.
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false)
    {
        if (!RequiresGrad) throw new InvalidOperationException($"backward: {this} does not require a gradient (no input of its graph requires one)");
        Tensor seed;
        if (gradient is null)
        {
            if (Value.Numel != 1) throw new InvalidOperationException($"backward: the output has shape {Shape}; " +
                "a non-scalar output needs an explicit gradient of the same shape");
            seed = Tensor.Ones(Shape, Value.Device);
        }
        else
        {
            if (gradient.Shape != Shape) throw new TensorShapeException("backward", $"gradient {gradient.Shape} does not match the output {Shape}");
            seed = gradient.Clone();
        }

        var order = TopologicalOrder();
        var pending = new Dictionary<Variable, Tensor>(ReferenceEqualityComparer.Instance) { [this] = seed };
        try
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var v = order[i];
                if (!pending.Remove(v, out var g)) continue;
                if (v.Creator is null)
                {
                    v.Accumulate(g);
                    continue;
                }
                var node = v.Creator;
                var grads = node.Apply(g);
                // A rule may hand g itself to one input (add, reshape-free identities): then it is not freed here.
                // Handed to several inputs, the later ones get copies, as each pending gradient is accumulated in place.
                bool handedOn = false;
                for (int k = 0; k < grads.Length; k++)
                {
                    if (!ReferenceEquals(grads[k], g)) continue;
                    if (handedOn) grads[k] = g.Clone();
                    handedOn = true;
                }
                if (!handedOn) g.Dispose();
                for (int k = 0; k < node.Inputs.Length; k++)
                {
                    var gi = grads[k];
                    if (gi is null) continue;
                    var input = node.Inputs[k];
                    if (!input.RequiresGrad)
                    {
                        gi.Dispose();
                        continue;
                    }
                    if (pending.TryGetValue(input, out var acc))
                    {
                        acc.AddInPlace(gi);
                        gi.Dispose();
                    }
                    else pending[input] = gi;
                }
                if (!retainGraph) node.Release();
            }
        }
        finally
        {
            foreach (var leftover in pending.Values) leftover.Dispose();
        }
    }

    void Accumulate(Tensor g)
    {
        if (g.Shape != Shape) throw new InvalidOperationException($"backward: gradient {g.Shape} reached {this} of shape {Shape}");
        if (Grad is null)
        {
            // The gradient of a leaf belongs to the leaf, not to the step's scope.
            Grad = TensorScope.Untrack(g);
            return;
        }
        Grad.AddInPlace(g);
        g.Dispose();
    }

    List<Variable> TopologicalOrder()
    {
        var order = new List<Variable>();
        var visited = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Variable V, bool Expanded)>();
        stack.Push((this, false));
        while (stack.Count > 0)
        {
            var (v, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(v);
                continue;
            }
            if (!visited.Add(v)) continue;
            stack.Push((v, true));
            if (v.Creator is { } node)
            {
                if (node.Released) throw new InvalidOperationException($"backward: the graph through '{node.Op}' was freed by an earlier " +
                    "Backward(); pass retainGraph: true to back-propagate twice");
                foreach (var input in node.Inputs)
                    if (input.RequiresGrad && !visited.Contains(input)) stack.Push((input, false));
            }
        }
        return order;
    }

    /// <summary>One recorded op: its inputs, its backward closure and the versions of the tensors it saved.</summary>
    internal sealed class Node
    {
        readonly (Tensor Tensor, int Version)[] _saved;
        Func<Tensor, Tensor?[]>? _backward;

        public Node(string op, Variable[] inputs, Func<Tensor, Tensor?[]> backward, Tensor[] saved)
        {
            Op = op;
            Inputs = inputs;
            _backward = backward;
            _saved = saved.Select(t => (t, t.Version)).ToArray();
        }

        public string Op { get; }

        public Variable[] Inputs { get; }

        public bool Released => _backward is null;

        public Tensor?[] Apply(Tensor gradOutput)
        {
            var backward = _backward ?? throw new InvalidOperationException($"backward: the graph through '{Op}' was already freed");
            foreach (var (t, version) in _saved)
            {
                if (t.IsDisposed) throw new ObjectDisposedException(nameof(Tensor),
                    $"{Op}: a tensor {t.Shape} saved for the backward pass was disposed before Backward()");
                if (t.Version != version)
                    throw new InvalidOperationException($"{Op}: a tensor {t.Shape} saved for the backward pass was modified in place " +
                        $"after the forward pass (version {t.Version}, expected {version})");
            }
            return backward(gradOutput);
        }

        Tensor[] _owned = [];

        /// <summary>Tensors that this node alone holds, freed by <see cref="Release"/>.</summary>
        public void Own(Tensor[] owned) => _owned = owned;

        public void Release()
        {
            _backward = null;
            foreach (var t in _owned) t.Dispose();
            _owned = [];
        }
    }
}
