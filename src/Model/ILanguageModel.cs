using Engine.Autograd;

namespace Engine.Model;

/// <summary>
/// A causal language model that generation and GRPO (<c>Engine.Rl.Grpo.GrpoTrainer</c>) accept: the extension point for a
/// policy of your own. <see cref="Gpt"/> is the first implementation, and keeps its fast paths (the KV cache in
/// generation, the packed trie in GRPO); any other model generates by recomputing the prefix each step and trains on
/// the unpacked group.
/// </summary>
public interface ILanguageModel : IDisposable
{
    /// <summary>Number of token ids; logits have this many columns.</summary>
    int VocabSize { get; }

    /// <summary>The longest sequence <see cref="Forward"/> accepts.</summary>
    int ContextLength { get; }

    /// <summary>Where the parameters live and the forward pass runs.</summary>
    Device Device { get; }

    /// <summary>The parameters an optimizer updates, in a fixed order; each requires a gradient.</summary>
    IReadOnlyList<Variable> TrainableParameters { get; }

    /// <summary>
    /// Next-token logits [B, T, <see cref="VocabSize"/>] for Int32 ids [B, T] (T ≤ <see cref="ContextLength"/>), where
    /// position t sees only positions ≤ t, recorded on the tape when gradients are on.
    /// </summary>
    Variable Forward(Tensor ids);

    /// <summary>An independent copy with the same parameter values (GRPO's frozen reference policy).</summary>
    ILanguageModel Clone();

    /// <summary>
    /// <paramref name="model"/>'s <see cref="Forward"/>, with its logits checked against the contract: a model that
    /// returns another shape is named in the error rather than failing later inside the loss.
    /// </summary>
    static Variable CheckedForward(ILanguageModel model, Tensor ids)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (ids.DType != DType.Int32 || ids.Rank != 2)
            throw new TensorShapeException("language_model", $"ids must be Int32 [batch, time], got {ids.DType} {ids.Shape}");
        var logits = model.Forward(ids);
        if (logits.Shape != new Shape(ids.Shape[0], ids.Shape[1], model.VocabSize) || logits.Value.DType != DType.Float32)
            throw new TensorShapeException("language_model",
                $"{model.GetType().Name}.Forward returned {logits.Value.DType} logits {logits.Shape} for ids {ids.Shape}; " +
                $"expected [{ids.Shape[0]}, {ids.Shape[1]}, {model.VocabSize}] float32");
        return logits;
    }
}
