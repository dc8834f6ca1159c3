using System.Text;

namespace Engine.Model.Tokenizers;

/// <summary>
/// One token per UTF-8 byte: 256 ids, any well-formed text (a lone surrogate is refused). Decoding replaces invalid UTF-8
/// with U+FFFD.
/// </summary>
public sealed class ByteTokenizer : IUtf8Tokenizer
{
    static readonly byte[] s_bytes = [.. Enumerable.Range(0, 256).Select(b => (byte)b)];

    /// <inheritdoc/>
    public int VocabSize => 256;

    /// <inheritdoc/>
    public int? EosId => null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Tokenizer.RequireWellFormed(text, "byte tokenizer");
        var bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ids[i] = bytes[i];
        return ids;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new byte[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] > 255) throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"byte tokenizer: id at position {i} is not a byte");
            bytes[i] = (byte)ids[i];
        }
        return Encoding.UTF8.GetString(bytes);
    }

    ReadOnlySpan<byte> IUtf8Tokenizer.TokenBytes(int id) =>
        (uint)id <= 255 ? s_bytes.AsSpan(id, 1) : throw new ArgumentOutOfRangeException(nameof(id), id, "byte tokenizer: the id is not a byte");
}
