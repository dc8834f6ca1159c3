namespace Engine.Model.Tokenizers;

/// <summary>Turns text into token ids and back.</summary>
public interface ITokenizer
{
    /// <summary>Number of ids (every id is in [0, VocabSize)).</summary>
    int VocabSize { get; }

    /// <summary>The end-of-text id, if the vocabulary has one.</summary>
    int? EosId { get; }

    /// <summary>The ids of <paramref name="text"/>.</summary>
    int[] Encode(string text);

    /// <summary>The text of <paramref name="ids"/>.</summary>
    string Decode(ReadOnlySpan<int> ids);
}
