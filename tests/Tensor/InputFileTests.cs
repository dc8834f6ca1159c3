using System.Text;
using Engine.Tests.Support;

namespace Engine.Tests;

public sealed class InputFileTests
{
    [Theory]
    [InlineData(new byte[] { 0x61, 0x62, 0xFF, 0x63 }, 2)]
    [InlineData(new byte[] { 0xEF, 0xBB, 0xBF, 0x61, 0xC3 }, 4)]          // a BOM, then a sequence cut short at the end
    [InlineData(new byte[] { 0x61, 0xED, 0xA0, 0x80, 0x62 }, 1)]          // an encoded lone surrogate
    public void NonUtf8TextIsRefusedAtTheOffsetOfItsFirstBadByte(byte[] bytes, int offset)
    {
        using var dir = new TempDirectory();
        string path = dir.File("bad.txt");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<IOException>(() => InputFile.ReadAllText(path, "test: --text"));
        Assert.Equal($"test: --text '{path}' is not valid UTF-8 text (an invalid sequence at byte {offset})", e.Message);
    }

    [Fact]
    public void Utf8TextReadsWithoutItsBom()
    {
        using var dir = new TempDirectory();
        string path = dir.File("good.txt");
        string text = "añ𝐨'm\n中文";
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)]);
        Assert.Equal(text, InputFile.ReadAllText(path, "test"));
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
        Assert.Equal(text, InputFile.ReadAllText(path, "test"));
    }
}
