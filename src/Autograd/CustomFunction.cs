namespace Engine.Autograd;

/// <summary>
/// A user-defined differentiable op: subclass it, write <see cref="Forward"/> on tensors and <see cref="Backward"/>
/// (the gradients of the inputs from the gradient of the output), and <see cref="Apply"/> records it on the tape
/// like a built-in op. Check a new function with <see cref="GradCheck.Run"/>.
/// </summary>
/// <remarks>
/// The engine checks what the two methods return: the forward output must be a fresh tensor that modified no
/// input, and backward must return one gradient per input (null where there is none) with that input's shape,
/// dtype and device. A gradient of the wrong number, shape, dtype or device is a <see cref="TensorShapeException"/>, and
/// a forward that returns null, an input or a view of one, or that changes or disposes an input is an
/// <see cref="InvalidOperationException"/>, each naming the function. Inputs and the
/// output are saved for the backward pass and checked for in-place changes, as for built-in ops.
/// </remarks>
public abstract class CustomFunction
{
    /// <summary>Creates a function whose <paramref name="name"/> appears in errors and in <see cref="Variable.ToString"/>.</summary>
    protected CustomFunction(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("custom function: the name must not be empty", nameof(name));
        Name = name;
    }

    /// <summary>The name used in errors.</summary>
    public string Name { get; }

    /// <summary>
    /// Computes the output from the input values. Return a new tensor (not an input, nor a view of one), and neither
    /// modify nor dispose the inputs; dispose any temporaries.
    /// </summary>
    protected abstract Tensor Forward(IReadOnlyList<Tensor> inputs);

    /// <summary>
    /// The gradient of the loss with respect to each input, given <paramref name="gradOutput"/> (the gradient with
    /// respect to <paramref name="output"/>, of its shape). Return one entry per input, in order: a new tensor of
    /// that input's shape, or null where the input gets no gradient (an integer input, or one that does not
    /// require one). Do not dispose the arguments.
    /// </summary>
    protected abstract Tensor?[] Backward(IReadOnlyList<Tensor> inputs, Tensor output, Tensor gradOutput);

    /// <summary>Runs <see cref="Forward"/> on the values of <paramref name="inputs"/> and records the op for backward.</summary>
    public Variable Apply(params Variable[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0) throw new ArgumentException($"custom function '{Name}': needs at least one input", nameof(inputs));
        var values = new Tensor[inputs.Length];
        var versions = new int[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            values[i] = (inputs[i] ?? throw new ArgumentNullException(nameof(inputs), $"custom function '{Name}': input {i} is null")).Value;
            versions[i] = values[i].Version;
        }
        var output = Forward(values) ?? throw new InvalidOperationException($"custom function '{Name}': forward returned null");
        CheckForward(values, versions, output);
        return Variable.Record(Name, output, inputs, g => CheckedBackward(values, output, g), [.. values, output]);
    }

    void CheckForward(Tensor[] inputs, int[] versions, Tensor output)
    {
        if (output.IsDisposed) throw new InvalidOperationException($"custom function '{Name}': forward returned a disposed tensor {output.Shape}");
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i].IsDisposed)
                throw new InvalidOperationException($"custom function '{Name}': forward disposed input {i} ({inputs[i].Shape})");
            if (inputs[i].Version != versions[i])
                throw new InvalidOperationException($"custom function '{Name}': forward modified input {i} ({inputs[i].Shape}) in place");
            if (output.SharesMemoryWith(inputs[i]))
                throw new InvalidOperationException(
                    $"custom function '{Name}': forward returned input {i} ({inputs[i].Shape}) or a view of it; return a new tensor (Clone)");
        }
    }

    Tensor?[] CheckedBackward(Tensor[] inputs, Tensor output, Tensor gradOutput)
    {
        var grads = Backward(inputs, output, gradOutput)
            ?? throw new InvalidOperationException($"custom function '{Name}': backward returned null; return one entry (or null) per input");
        if (grads.Length != inputs.Length)
        {
            DisposeOwnedBy(grads, inputs, output, gradOutput);
            throw new TensorShapeException(Name, $"backward returned {grads.Length} gradients for {inputs.Length} inputs");
        }
        for (int i = 0; i < grads.Length; i++)
        {
            var g = grads[i];
            if (g is null) continue;
            var x = inputs[i];
            if (g.IsDisposed || g.Shape != x.Shape || g.DType != DType.Float32 || g.Device != x.Device)
            {
                string got = g.IsDisposed ? $"a disposed tensor {g.Shape}" : $"a {g.DType} gradient of shape {g.Shape} on {g.Device}";
                DisposeOwnedBy(grads, inputs, output, gradOutput);
                throw new TensorShapeException(Name, $"backward returned {got} for input {i} of shape {x.Shape} ({x.DType} on {x.Device})");
            }
            // Gradients are accumulated in place; one that is (a view of) an input or the output is copied first.
            if (!ReferenceEquals(g, gradOutput) && (g.SharesMemoryWith(output) || inputs.Any(g.SharesMemoryWith))) grads[i] = g.Clone();
        }
        return grads;
    }

    /// <summary>Frees the gradients a failed backward made, sparing whatever it returned of the tensors it was given.</summary>
    static void DisposeOwnedBy(Tensor?[] grads, Tensor[] inputs, Tensor output, Tensor gradOutput)
    {
        foreach (var g in grads)
        {
            if (g is null || g.IsDisposed) continue;
            if (g.SharesMemoryWith(gradOutput) || g.SharesMemoryWith(output) || inputs.Any(g.SharesMemoryWith)) continue;
            g.Dispose();
        }
    }
}
