namespace Engine.Model.Tokenizers;

/// <summary>Finds the tokenizer that a model directory holds.</summary>
public static class Tokenizer
{
    /// <summary>
    /// <c>vocab.json</c> + <c>merges.txt</c> → <see cref="Gpt2BpeTokenizer"/>; a <c>tokenizer.json</c> of
    /// type <c>"char"</c> → <see cref="CharTokenizer"/>; otherwise null (a Hugging Face <c>tokenizer.json</c>
    /// alone is not read).
    /// </summary>
    public static ITokenizer? Load(string modelDirectory)
    {
        if (File.Exists(Path.Combine(modelDirectory, Gpt2BpeTokenizer.VocabFileName))
            && File.Exists(Path.Combine(modelDirectory, Gpt2BpeTokenizer.MergesFileName)))
            return Gpt2BpeTokenizer.Load(modelDirectory);
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        return File.Exists(chars) ? CharTokenizer.TryLoad(chars) : null;
    }

    /// <summary>
    /// The tokenizer's files in <paramref name="modelDirectory"/>, to copy with the model: the files <see cref="Load"/> reads, and Hugging
    /// Face's tokenizer files beside them.
    /// </summary>
    public static IReadOnlyList<string> Files(string modelDirectory) =>
        [.. new[] { Gpt2BpeTokenizer.VocabFileName, Gpt2BpeTokenizer.MergesFileName, CharTokenizer.FileName, "tokenizer_config.json",
            "special_tokens_map.json" }
            .Select(name => Path.Combine(modelDirectory, name)).Where(File.Exists)];
}
