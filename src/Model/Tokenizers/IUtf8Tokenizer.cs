namespace Engine.Model.Tokenizers;

/// <summary>
/// A tokenizer whose text of any ids is the UTF-8 decoding of their bytes in order, each invalid sequence read as U+FFFD, as
/// <see cref="System.Text.Encoding.UTF8"/> does: the text of the ids from one whose bytes begin with a byte that is not a
/// continuation byte is then the end of the text of them all (<see cref="StopStrings"/> decodes such a tail).
/// </summary>
internal interface IUtf8Tokenizer : ITokenizer
{
    /// <summary>The bytes <paramref name="id"/> stands for; an id that <see cref="ITokenizer.Decode"/> refuses is refused.</summary>
    ReadOnlySpan<byte> TokenBytes(int id);
}
