using System.Buffers.Binary;
using System.Text;
using Engine.Model.Checkpoints;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The safetensors reader and writer: exact round trips, half-precision decoding, and a clear
/// <see cref="CheckpointException"/> (naming the file and the tensor or field) for every kind of hostile file.
/// </summary>
public class SafeTensorsTests
{
    /// <summary>Writes the raw layout: u64 little-endian header length, the header bytes, the data bytes.</summary>
    static string Raw(TempDirectory dir, string header, byte[] data, ulong? headerLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        string path = dir.File("hostile.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static int[] Bits(float[] x) => x.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void RoundTripIsBitExact()
    {
        using var dir = new TempDirectory();
        // Special values must survive untouched: signed zero, a NaN payload, infinities, subnormals, extremes.
        float[] special = [0f, -0f, BitConverter.Int32BitsToSingle(0x7FC0_1234), float.PositiveInfinity, float.NegativeInfinity,
            float.Epsilon, -float.MaxValue, 1e-40f, 3.14159274f];
        var rng = new System.Random(5);
        var big = Enumerable.Range(0, 3 * 5 * 7).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var ints = new[] { int.MinValue, -1, 0, 1, int.MaxValue, 42 };
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path,
        [
            SafeTensorEntry.Float32("special", [special.Length], special),
            SafeTensorEntry.Float32("big", [3, 5, 7], big),
            SafeTensorEntry.Float32("scalar", [], [2.5f]),
            SafeTensorEntry.Float32("empty", [0, 4], []),
            SafeTensorEntry.Int32("ids", [2, 3], ints),
        ], new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });

        using var r = SafeTensorsReader.Open(path);
        Assert.Equal(["special", "big", "scalar", "empty", "ids"], r.Tensors.Select(t => t.Name));
        Assert.Equal(Bits(special), Bits(r.ReadFloats("special")));
        Assert.Equal(Bits(big), Bits(r.ReadFloats("big")));
        Assert.Equal([3, 5, 7], r["big"].Shape);
        Assert.Empty(r["scalar"].Shape);
        Assert.Equal(Bits([2.5f]), Bits(r.ReadFloats("scalar")));
        Assert.Empty(r.ReadFloats("empty"));
        Assert.Equal(ints, r.ReadInts("ids"));
        Assert.Equal(SafeTensorDType.I32, r["ids"].DType);
        Assert.Equal("ünïcode", r.Metadata["note"]);
    }

    [Fact]
    public void HeaderIsPaddedWithSpacesToEightBytes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path, [SafeTensorEntry.Float32("x", [3], [1f, 2f, 3f])]);
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        Assert.Equal(8 + n + 12, bytes.Length);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{", header);
        Assert.Equal(header.TrimEnd(' ').Length, header.TrimEnd().Length);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp")); // the temporary file was moved, not left behind
    }

    [Fact]
    public void DecodesHalfAndBFloat16AndI64()
    {
        using var dir = new TempDirectory();
        // F16: 0x3C00 = 1, 0xC000 = -2, 0x7C00 = +inf, 0x0001 = 2^-24 (smallest subnormal), 0x3555 = 1365/4096.
        ushort[] f16 = [0x3C00, 0xC000, 0x7C00, 0x0001, 0x3555];
        // BF16 is the top half of a float32: 0x3F80 = 1, 0xC040 = -3, 0x4049 = 3.140625, 0x8000 = -0.
        ushort[] bf16 = [0x3F80, 0xC040, 0x4049, 0x8000];
        long[] i64 = [-5, 0, 1L << 30];
        double[] f64 = [0.1, -1e300]; // 0.1 rounds to the float nearest it; -1e300 overflows to -inf
        var data = new byte[2 * f16.Length + 2 * bf16.Length + 8 * i64.Length + 8 * f64.Length];
        for (int i = 0; i < f64.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(42 + 8 * i), f64[i]);
        for (int i = 0; i < f16.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), f16[i]);
        for (int i = 0; i < bf16.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(10 + 2 * i), bf16[i]);
        for (int i = 0; i < i64.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(18 + 8 * i), i64[i]);
        string header = """{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":["""
            + """10,18]},"l":{"dtype":"I64","shape":[3],"data_offsets":[18,42]},"d":{"dtype":"F64","shape":[2],"data_offsets":[42,58]}}""";
        string path = Raw(dir, header, data);
        using var r = SafeTensorsReader.Open(path);
        Tolerance.AssertClose(r.ReadFloats("h"), [1.0, -2.0, double.PositiveInfinity, Math.Pow(2, -24), 1365.0 / 4096], 0, 0, "F16");
        Tolerance.AssertClose(r.ReadFloats("b"), [1.0, -3.0, 3.140625, 0.0], 0, 0, "BF16");
        Assert.True(float.IsNegative(r.ReadFloats("b")[3]));
        Assert.Equal([-5, 0, 1 << 30], r.ReadInts("l"));
        Tolerance.AssertClose(r.ReadFloats("d"), [(double)0.1f, double.NegativeInfinity], 0, 0, "F64");
        var e = Assert.Throws<CheckpointException>(() => r.ReadInts("h"));
        Assert.Contains("'h'", e.Message);
    }

    const string Ok = """{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""";

    /// <summary>Hostile headers: (header JSON, data bytes, the words the error must contain).</summary>
    public static TheoryData<string, int, string> HostileHeaders => new()
    {
        { "{\"a\": {\"dtype\": \"F32\", ", 8, "not valid JSON" },
        { "[1, 2]", 0, "does not start with '{'" },
        { """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "'w': data_offsets [0, 16] run past the 8-byte data section" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "'w': data_offsets [8, 0] are reversed" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", 8, "'w': data_offsets [-8,0] are not non-negative" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12,
            "'b' [4, 12] overlaps tensor 'a' [0, 8]" },
        { """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "'w': holds 8 bytes, but 3 elements of F32 need 12" },
        { """{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", 8, "'w': unknown dtype 'Q7'" },
        { """{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}""", 8, "'w': shape entry 0 is negative (-1)" },
        { """{"w":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}""", 8,
            "'w': shape [2147483647,2147483647,2147483647] overflows" },
        { """{"w":{"dtype":"F32","shape":[99999999999],"data_offsets":[0,8]}}""", 8, "'w': shape entry 0 (99999999999) is too large" },
        { """{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", 8, "'w': shape entry 0 is not an integer" },
        { "{\"w\":" + Ok + ",\"w\":" + Ok + "}", 8, "duplicate entry 'w'" },
        { """{"w":{"dtype":"F32","shape":[2]}}""", 8, "'w': 'data_offsets' must be an array" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}""", 8, "'w': unknown field 'extra'" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "bytes [0, 4) before tensor 'w' belong to no tensor" },
        { "{\"w\":" + Ok + "}", 12, "the data section is 12 bytes but the tensors cover 8" },
        { "{\"__metadata__\":{\"k\":3},\"w\":" + Ok + "}", 8, "__metadata__ field 'k' is not a string" },
    };

    [Theory]
    [MemberData(nameof(HostileHeaders))]
    public void HostileHeaderFailsWithAClearError(string header, int dataBytes, string expected)
    {
        using var dir = new TempDirectory();
        string path = Raw(dir, header, new byte[dataBytes]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileFails()
    {
        using var dir = new TempDirectory();
        string path = Raw(dir, "{\"w\":" + Ok + "}", new byte[8], headerLength: 1000);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains("header length 1000 runs past the end", e.Message);
    }

    [Fact]
    public void AbsurdHeaderLengthFailsBeforeAllocating()
    {
        using var dir = new TempDirectory();
        string path = Raw(dir, "{}", [], headerLength: ulong.MaxValue);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains("exceeds the limit", e.Message);
    }

    [Fact]
    public void FileShorterThanTheLengthPrefixFails()
    {
        using var dir = new TempDirectory();
        string path = dir.File("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains("too short", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedFileFailsNamingTheTensor()
    {
        using var dir = new TempDirectory();
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path, [SafeTensorEntry.Float32("a", [4], [1f, 2, 3, 4]), SafeTensorEntry.Float32("b", [4], [5f, 6, 7, 8])]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void LazyDataOfTheWrongLengthLeavesNoFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("t.safetensors");
        var e = Assert.Throws<InvalidOperationException>(() => SafeTensors.Write(path, [SafeTensorEntry.Float32("x", [2, 2], () => [1f, 2f])]));
        Assert.Contains("'x'", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
        SafeTensors.Write(path, [SafeTensorEntry.Float32("x", [2], () => [1f, 2f])]);
        using var r = SafeTensorsReader.Open(path);
        Tolerance.AssertClose(r.ReadFloats("x"), [1.0, 2.0], 0, 0);
    }

    [Fact]
    public void WriterRejectsMismatchedShapesAndRepeatedNames()
    {
        Assert.Throws<ArgumentException>(() => SafeTensorEntry.Float32("x", [2, 2], [1f, 2f, 3f]));
        Assert.Throws<ArgumentException>(() => SafeTensorEntry.Float32("x", [-1], []));
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(dir.File("t.safetensors"),
            [SafeTensorEntry.Float32("x", [1], [1f]), SafeTensorEntry.Float32("x", [1], [2f])]));
        Assert.False(File.Exists(dir.File("t.safetensors")));
    }
}
