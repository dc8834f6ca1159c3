using System.Globalization;
using System.Text;

namespace Engine.Model.Tokenizers;

/// <summary>
/// GPT-2's pre-tokenizer, the regex
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>, written as a scanner over
/// code points. .NET's regex classifies UTF-16 code units, so it would see a letter outside the Basic Multilingual
/// Plane ("𝐨") as two non-letters; here, as in tiktoken and Python's <c>regex</c>, it is a letter. Whitespace is
/// Unicode's White_Space (all of it in the BMP); a lone surrogate is neither letter, digit nor space.
/// </summary>
static class Gpt2PreTokenizer
{
    enum Kind : byte { Other, Letter, Number, Space }

    static readonly Kind[] s_ascii = BuildAsciiTable();

    /// <summary>The length, in UTF-16 code units, of the pre-token at the start of <paramref name="text"/> (not empty).</summary>
    public static int NextLength(ReadOnlySpan<char> text)
    {
        char first = text[0];
        if (first == '\'' && text.Length > 1)
        {
            int contraction = ContractionLength(text);
            if (contraction > 0) return contraction;
        }
        int start = 0;
        Kind kind = KindAt(text, 0, out int width);
        if (first == ' ' && text.Length > 1)
        {
            // " ?X+": a space joins the run of letters, digits or other characters that follows it.
            Kind next = KindAt(text, 1, out int nextWidth);
            if (next != Kind.Space)
            {
                start = 1;
                kind = next;
                width = nextWidth;
            }
        }
        if (kind != Kind.Space) return RunEnd(text, start + width, kind);

        // "\s+(?!\S)|\s+": a run of whitespace leaves its last character to the word after it, unless that would leave the run empty.
        int end = RunEnd(text, width, Kind.Space);
        return end == text.Length || end == 1 ? end : end - 1;
    }

    /// <summary>2 or 3 for "'s", "'t", "'m", "'d", "'re", "'ve", "'ll" (case-sensitive, as GPT-2's pattern); else 0.</summary>
    static int ContractionLength(ReadOnlySpan<char> text)
    {
        char a = text[1];
        if (a is 's' or 't' or 'm' or 'd') return 2;
        if (text.Length < 3) return 0;
        char b = text[2];
        return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
    }

    /// <summary>The end of the run of <paramref name="kind"/> that continues at <paramref name="position"/>.</summary>
    static int RunEnd(ReadOnlySpan<char> text, int position, Kind kind)
    {
        while (position < text.Length && KindAt(text, position, out int width) == kind) position += width;
        return position;
    }

    static Kind KindAt(ReadOnlySpan<char> text, int position, out int width)
    {
        char c = text[position];
        width = 1;
        if (c < 128) return s_ascii[c];
        if (!char.IsSurrogate(c)) return char.IsWhiteSpace(c) ? Kind.Space : Classify(char.GetUnicodeCategory(c));
        if (Rune.DecodeFromUtf16(text[position..], out var rune, out int used) != System.Buffers.OperationStatus.Done) return Kind.Other;
        width = used;
        return Classify(Rune.GetUnicodeCategory(rune));
    }

    /// <summary>Letters and digits by general category (whitespace is decided before, by char.IsWhiteSpace).</summary>
    static Kind Classify(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
        _ => Kind.Other,
    };

    static Kind[] BuildAsciiTable()
    {
        var table = new Kind[128];
        for (int c = 0; c < 128; c++)
            table[c] = char.IsAsciiLetter((char)c) ? Kind.Letter
                : char.IsAsciiDigit((char)c) ? Kind.Number
                : char.IsWhiteSpace((char)c) ? Kind.Space
                : Kind.Other;
        return table;
    }
}
