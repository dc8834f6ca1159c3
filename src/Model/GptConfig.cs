namespace Engine.Model;

/// <summary>The shape of a GPT-2-style decoder.</summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="ContextLength">Maximum sequence length (learned positions).</param>
/// <param name="Width">Embedding width C.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Attention heads; must divide <paramref name="Width"/>.</param>
/// <param name="LayerNormEpsilon">ε of every layer norm.</param>
public sealed record GptConfig(int VocabSize, int ContextLength, int Width, int Layers, int Heads, float LayerNormEpsilon = 1e-5f)
{
    /// <summary>vocab 64, context 64, width 128, 4 layers, 4 heads.</summary>
    public static GptConfig Tiny => new(64, 64, 128, 4, 4);

    /// <summary>vocab 512, context 256, width 384, 6 layers, 6 heads.</summary>
    public static GptConfig Small => new(512, 256, 384, 6, 6);

    /// <summary>GPT-2 small (124M): vocab 50257, context 1024, width 768, 12 layers, 12 heads.</summary>
    public static GptConfig Gpt2 => new(50257, 1024, 768, 12, 12);

    /// <summary>Width of one head.</summary>
    public int HeadDim => Heads > 0 ? Width / Heads : 0;

    /// <summary>Looks up a named configuration (<c>tiny</c>, <c>small</c>, <c>gpt2</c>).</summary>
    public static GptConfig Named(string name) => name switch
    {
        "tiny" => Tiny,
        "small" => Small,
        "gpt2" => Gpt2,
        _ => throw new ArgumentException($"config: unknown configuration '{name}'; known: tiny, small, gpt2"),
    };

    /// <summary>Throws if the numbers cannot make a model.</summary>
    public void Validate()
    {
        if (VocabSize <= 0 || ContextLength <= 0 || Width <= 0 || Layers <= 0 || Heads <= 0)
            throw new ArgumentException($"config: every size must be positive: vocab_size {VocabSize}, n_positions {ContextLength}, " +
                $"n_embd {Width}, n_layer {Layers}, n_head {Heads}");
        if (Width % Heads != 0) throw new ArgumentException($"config: n_embd {Width} is not divisible by n_head {Heads}");
        // Each parameter is one tensor, and a tensor holds at most int.MaxValue elements.
        long widest = Math.Max(Math.Max(VocabSize, ContextLength), 4L * Width);
        if (widest * Width > int.MaxValue)
            throw new ArgumentException($"config: a {widest}×{Width} parameter has more than {int.MaxValue} elements (vocab_size {VocabSize}, " +
                $"n_positions {ContextLength}, n_embd {Width})");
        if (!(LayerNormEpsilon > 0) || !float.IsFinite(LayerNormEpsilon))
            throw new ArgumentException($"config: layer_norm_epsilon must be positive and finite, got {LayerNormEpsilon}");
    }
}
