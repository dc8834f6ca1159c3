using System.Text.Json;
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
    /// merges.txt without the other, throws <see cref="CheckpointException"/> naming the file. Each file is read and parsed once.
    /// </summary>
    public static ITokenizer? Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        return Read(modelDirectory, InputFile.ReadAllText);
    }

    /// <summary>As <see cref="Load"/>, reading each file's text with <paramref name="readText"/>(path, what it is).</summary>
    static ITokenizer? Read(string modelDirectory, Func<string, string, string> readText)
    {
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        if (File.Exists(chars)) return CharTokenizer.Parse(chars, readText(chars, "char tokenizer"));
        string tokenizerJson = Path.Combine(modelDirectory, Gpt2BpeTokenizer.TokenizerJsonFileName);
        if (File.Exists(tokenizerJson))
        {
            using var doc = ParseJson(tokenizerJson, readText(tokenizerJson, "tokenizer"));
            return CharTokenizer.IsCharFormat(doc.RootElement) ? CharTokenizer.FromJson(tokenizerJson, doc.RootElement)
                : Gpt2BpeTokenizer.FromTokenizerJson(tokenizerJson, doc.RootElement);
        }
        string vocab = Path.Combine(modelDirectory, Gpt2BpeTokenizer.VocabFileName);
        string merges = Path.Combine(modelDirectory, Gpt2BpeTokenizer.MergesFileName);
        return (File.Exists(vocab), File.Exists(merges)) switch
        {
            (true, true) => Gpt2BpeTokenizer.Parse(vocab, readText(vocab, "gpt2 vocabulary"), merges, readText(merges, "gpt2 merges")),
            (true, false) => throw new CheckpointException($"{modelDirectory} has vocab.json but no merges.txt beside it"),
            (false, true) => throw new CheckpointException($"{modelDirectory} has merges.txt but no vocab.json beside it"),
            _ => null,
        };
    }

    /// <summary>
    /// The JSON of the tokenizer file <paramref name="path"/>, parsed once and strictly (a key given twice is an error). An error
    /// names the file as <paramref name="kind"/>'s or, when that is null, as the kind its <c>type</c> claims at a lenient look:
    /// "char tokenizer" for the char format, else "tokenizer" (Hugging Face's).
    /// </summary>
    internal static JsonDocument ParseJson(string path, string text, string? kind = null)
    {
        try
        {
            return JsonDocument.Parse(text, InputFile.StrictJson());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            kind ??= ClaimsCharFormat(text) ? "char tokenizer" : "tokenizer";
            // System.Text.Json reports a string it cannot decode (an escaped lone surrogate) with an InvalidOperationException.
            throw new CheckpointException($"{kind} {path}: {(e is JsonException ? "not valid JSON: " : "")}{e.Message}", e);
        }
    }

    /// <summary>Whether <paramref name="text"/>, read as leniently as JSON allows (repeated keys and all), says it is the char format.</summary>
    static bool ClaimsCharFormat(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
            return CharTokenizer.IsCharFormat(doc.RootElement);
        }
        catch (JsonException)
        {
            return false;
        }
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
    /// The tokenizer of <paramref name="modelDirectory"/>, as <see cref="Load"/> finds it, with its files' bytes, to be
    /// written beside a copy of the model: the files Load reads, and the others of <see cref="FileNames"/> beside them. Each file
    /// is read once, so the copies hold the bytes the tokenizer was built from. A char tokenizer that an older run saved as
    /// tokenizer.json is named char-tokenizer.json here, so no copy gives that name to a file that is not Hugging Face's.
    /// Null when the directory holds no tokenizer.
    /// </summary>
    public static TokenizerFiles? LoadWithFiles(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        var read = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        string ReadText(string path, string what)
        {
            string text = InputFile.ReadAllText(path, what, out byte[] bytes);
            read[path] = bytes;
            return text;
        }
        if (Read(modelDirectory, ReadText) is not { } tokenizer) return null;
        var files = new List<(string Name, byte[] Bytes)>();
        foreach (string name in FileNames)
        {
            string path = Path.Combine(modelDirectory, name);
            if (!File.Exists(path)) continue;
            string saveAs = name;
            if (name == CharTokenizer.LegacyFileName)
            {
                // Load read it unless char-tokenizer.json, its current name, is there too; then that one wins, as in Load.
                bool charFormat = read.ContainsKey(path) ? tokenizer is CharTokenizer : ClaimsCharFormat(ReadText(path, "tokenizer"));
                if (charFormat && files.Any(f => f.Name == CharTokenizer.FileName)) continue;
                if (charFormat) saveAs = CharTokenizer.FileName;
            }
            files.Add((saveAs, read.TryGetValue(path, out var bytes) ? bytes : InputFile.ReadAllBytes(path, "tokenizer file")));
        }
        return new TokenizerFiles(tokenizer, files);
    }
}

/// <summary>A model directory's tokenizer, with the files it came from (name and bytes), to be written beside a copy of the model.</summary>
/// <param name="Tokenizer">The tokenizer.</param>
/// <param name="Files">The tokenizer's files, each under the name a copy gives it.</param>
public sealed record TokenizerFiles(ITokenizer Tokenizer, IReadOnlyList<(string Name, byte[] Bytes)> Files);
