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
        if (File.Exists(Path.Combine(modelDirectory, Gpt2BpeTokenizer.VocabFileName)) && File.Exists(Path.Combine(modelDirectory, Gpt2BpeTokenizer.MergesFileName)))
            return Gpt2BpeTokenizer.Load(modelDirectory);
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        return File.Exists(chars) ? CharTokenizer.TryLoad(chars) : null;
    }
}
