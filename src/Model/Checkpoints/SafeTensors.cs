using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Engine.Model.Checkpoints;

/// <summary>
/// A tensor to write: a name, a shape and float32 or int32 data, given directly or by a function that the
/// writer calls when it reaches the tensor (so a large model is copied to the host one tensor at a time).
/// </summary>
public sealed class SafeTensorEntry
{
    readonly float[]? _floats;
    readonly int[]? _ints;
    readonly Func<float[]>? _lazyFloats;

    SafeTensorEntry(string name, int[] shape, float[]? floats, int[]? ints, Func<float[]>? lazyFloats, SafeTensorDType dtype)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        long numel = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"safetensors: tensor '{name}' has a negative dimension in {SafeTensors.FormatShape(shape)}",
                    nameof(shape));
            numel *= d;
        }
        Name = name;
        Shape = shape;
        Numel = numel;
        DType = dtype;
        _floats = floats;
        _ints = ints;
        _lazyFloats = lazyFloats;
        long? length = floats?.Length ?? ints?.Length;
        if (length is long n && n != numel)
            throw new ArgumentException(
                $"safetensors: tensor '{name}' has shape {SafeTensors.FormatShape(shape)} ({numel} elements) but {n} values", nameof(shape));
    }

    /// <summary>An F32 tensor.</summary>
    public static SafeTensorEntry Float32(string name, int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new(name, shape, data, null, null, SafeTensorDType.F32);
    }

    /// <summary>An F32 tensor whose data <paramref name="data"/> produces when it is written.</summary>
    public static SafeTensorEntry Float32(string name, int[] shape, Func<float[]> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new(name, shape, null, null, data, SafeTensorDType.F32);
    }

    /// <summary>An I32 tensor.</summary>
    public static SafeTensorEntry Int32(string name, int[] shape, int[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new(name, shape, null, data, null, SafeTensorDType.I32);
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>Dimensions (empty for a scalar).</summary>
    public int[] Shape { get; }

    /// <summary>Number of elements.</summary>
    public long Numel { get; }

    /// <summary>The element type written.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>The F32 data (produced now if it was given as a function), or null for an I32 tensor.</summary>
    public float[]? Floats => _floats ?? _lazyFloats?.Invoke();

    /// <summary>The I32 data, or null for an F32 tensor.</summary>
    public int[]? Ints => _ints;

    /// <summary>Bytes in the file.</summary>
    internal long ByteLength => Numel * 4;

    /// <summary>Writes the data little-endian, in chunks (a span of bytes cannot exceed 2 GiB).</summary>
    internal void WriteTo(Stream stream)
    {
        const int Chunk = 1 << 26; // elements
        if (DType == SafeTensorDType.I32)
        {
            for (int i = 0; i < _ints!.Length; i += Chunk) Write(stream, _ints.AsSpan(i, Math.Min(Chunk, _ints.Length - i)));
            return;
        }
        var data = Floats!;
        if (data.Length != Numel)
            throw new InvalidOperationException(
                $"safetensors: tensor '{Name}' has shape {SafeTensors.FormatShape(Shape)} ({Numel} elements) but its data has {data.Length} values");
        for (int i = 0; i < data.Length; i += Chunk) Write(stream, MemoryMarshal.Cast<float, int>(data.AsSpan(i, Math.Min(Chunk, data.Length - i))));
    }

    static void Write(Stream stream, ReadOnlySpan<int> words)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(words));
            return;
        }
        var swapped = new int[words.Length];
        BinaryPrimitives.ReverseEndianness(words, swapped);
        stream.Write(MemoryMarshal.AsBytes(swapped.AsSpan()));
    }
}

/// <summary>
/// Writes the safetensors format (see <see cref="SafeTensorsReader"/>): tensors laid out back to back in
/// the given order, the header padded with spaces to a multiple of 8 bytes so the data stays aligned.
/// Files are written atomically (<see cref="AtomicFile"/>).
/// </summary>
public static class SafeTensors
{
    /// <summary>Writes <paramref name="tensors"/> (and optional string metadata) to <paramref name="path"/>, replacing it atomically.</summary>
    public static void Write(string path, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = Header(tensors, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var t in tensors) t.WriteTo(stream);
        });
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes.</summary>
    internal static byte[] Header(IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                if (t.Name == "__metadata__" || !names.Add(t.Name))
                    throw new ArgumentException($"safetensors: tensor name '{t.Name}' is reserved or repeated", nameof(tensors));
                long size = t.ByteLength;
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToString());
                json.WriteStartArray("shape");
                foreach (int d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + size);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += size;
            }
            json.WriteEndObject();
        }
        int padded = (int)((buffer.Length + 7) / 8 * 8);
        var header = new byte[padded];
        buffer.ToArray().CopyTo(header, 0);
        header.AsSpan((int)buffer.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>Reads every floating-point tensor of <paramref name="path"/> (converted to float32) by name.</summary>
    public static Dictionary<string, float[]> ReadAllFloats(string path)
    {
        using var reader = SafeTensorsReader.Open(path);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var t in reader.Tensors) result[t.Name] = reader.ReadFloats(t.Name);
        return result;
    }

    /// <summary>A shape written as <c>[a, b, c]</c>.</summary>
    public static string FormatShape(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) sb.Append(i == 0 ? "" : ", ").Append(shape[i]);
        return sb.Append(']').ToString();
    }
}
