using Engine.Model.Checkpoints;

namespace Engine.Model.Tokenizers;

/// <summary>Finds the tokenizer that a model directory holds.</summary>
public static class Tokenizer
{
    /// <summary>
    /// Refuses text with a lone surrogate: it is not Unicode, has no UTF-8 bytes, and would otherwise become U+FFFD without
    /// a word (tiktoken refuses it too).
    /// </summary>
    internal static void RequireWellFormed(string text, string tokenizer)
    {
        var span = text.AsSpan();
        for (int i = span.IndexOfAnyInRange('\uD800', '\uDFFF'); i >= 0 && i < span.Length; i++)
        {
            if (!char.IsSurrogate(span[i])) continue;
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1])) { i++; continue; }
            throw new ArgumentException($"{tokenizer}: the text has a lone surrogate U+{(int)span[i]:X4} at position {i}, which is not Unicode");
        }
    }

    /// <summary>Every tokenizer file a model directory may hold: those <see cref="Load"/> reads and Hugging Face's two beside them.</summary>
    public static IReadOnlyList<string> FileNames { get; } =
    [
        Gpt2BpeTokenizer.VocabFileName, Gpt2BpeTokenizer.MergesFileName, CharTokenizer.FileName, Gpt2BpeTokenizer.TokenizerJsonFileName,
        "tokenizer_config.json", "special_tokens_map.json",
    ];

    /// <summary>The files <see cref="Load"/> looks for, as a phrase for messages.</summary>
    public const string ExpectedFiles = "tokenizer.json, char-tokenizer.json, or vocab.json and merges.txt";

    /// <summary>
    /// The tokenizer in <paramref name="modelDirectory"/>, or null when it holds none of <see cref="ExpectedFiles"/>:
    /// <c>char-tokenizer.json</c> → <see cref="CharTokenizer"/>; <c>tokenizer.json</c> → <see cref="CharTokenizer"/> when it
    /// holds the char format (runs written before <see cref="CharTokenizer.FileName"/>), else a Hugging Face file read by
    /// <see cref="Gpt2BpeTokenizer.LoadTokenizerJson"/> (preferred to <c>vocab.json</c> + <c>merges.txt</c> beside it, as
    /// Hugging Face does, since it also lists the added tokens); <c>vocab.json</c> + <c>merges.txt</c> →
    /// <see cref="Gpt2BpeTokenizer"/>. A file that is present but malformed or unsupported, or one of vocab.json and
    /// merges.txt without the other, throws <see cref="CheckpointException"/> naming the file.
    /// </summary>
    public static ITokenizer? Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        if (File.Exists(chars)) return CharTokenizer.Load(chars);
        string tokenizerJson = Path.Combine(modelDirectory, Gpt2BpeTokenizer.TokenizerJsonFileName);
        if (File.Exists(tokenizerJson))
            return (ITokenizer?)CharTokenizer.TryLoad(tokenizerJson) ?? Gpt2BpeTokenizer.LoadTokenizerJson(tokenizerJson);
        string vocab = Path.Combine(modelDirectory, Gpt2BpeTokenizer.VocabFileName);
        string merges = Path.Combine(modelDirectory, Gpt2BpeTokenizer.MergesFileName);
        return (File.Exists(vocab), File.Exists(merges)) switch
        {
            (true, true) => Gpt2BpeTokenizer.Load(vocab, merges),
            (true, false) => throw new CheckpointException($"{modelDirectory} has vocab.json but no merges.txt beside it"),
            (false, true) => throw new CheckpointException($"{modelDirectory} has merges.txt but no vocab.json beside it"),
            _ => null,
        };
    }

    /// <summary>
    /// As <see cref="Load"/>, but a directory without a tokenizer throws <see cref="CheckpointException"/>:
    /// "DIR has no tokenizer: expected tokenizer.json, char-tokenizer.json, or vocab.json and merges.txt". A missing
    /// directory throws <see cref="DirectoryNotFoundException"/>.
    /// </summary>
    public static ITokenizer LoadRequired(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory)) throw new DirectoryNotFoundException($"model directory '{modelDirectory}' does not exist");
        return Load(modelDirectory) ?? throw new CheckpointException($"{modelDirectory} has no tokenizer: expected {ExpectedFiles}");
    }

    /// <summary>
    /// The tokenizer's files in <paramref name="modelDirectory"/>, read to be written beside a copy of the model: the files
    /// <see cref="Load"/> reads, and Hugging Face's tokenizer_config.json and special_tokens_map.json beside them. A char
    /// tokenizer that an older run saved as tokenizer.json is named char-tokenizer.json here, so no copy gives that name to a
    /// file that is not Hugging Face's.
    /// </summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> ReadFiles(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        var files = new List<(string Name, byte[] Bytes)>();
        foreach (string name in FileNames)
        {
            string path = Path.Combine(modelDirectory, name);
            if (!File.Exists(path)) continue;
            string saveAs = name;
            if (name == CharTokenizer.LegacyFileName && CharTokenizer.TryLoad(path) is not null)
            {
                if (files.Any(f => f.Name == CharTokenizer.FileName)) continue; // the current name wins, as in Load
                saveAs = CharTokenizer.FileName;
            }
            files.Add((saveAs, File.ReadAllBytes(path)));
        }
        return files;
    }
}
