using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Engine.Model.Checkpoints;

/// <summary>A tensor to write: a name, a shape and either float32 or int32 data.</summary>
public sealed class SafeTensorEntry
{
    SafeTensorEntry(string name, int[] shape, float[]? floats, int[]? ints)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        long numel = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"safetensors: tensor '{name}' has a negative dimension in {SafeTensors.FormatShape(shape)}", nameof(shape));
            numel *= d;
        }
        long length = floats?.Length ?? ints!.Length;
        if (numel != length) throw new ArgumentException($"safetensors: tensor '{name}' has shape {SafeTensors.FormatShape(shape)} ({numel} elements) but {length} values", nameof(shape));
        Name = name;
        Shape = shape;
        Floats = floats;
        Ints = ints;
    }

    /// <summary>An F32 tensor.</summary>
    public static SafeTensorEntry Float32(string name, int[] shape, float[] data) => new(name, shape, data, null);

    /// <summary>An I32 tensor.</summary>
    public static SafeTensorEntry Int32(string name, int[] shape, int[] data) => new(name, shape, null, data);

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>Dimensions (empty for a scalar).</summary>
    public int[] Shape { get; }

    /// <summary>The F32 data, or null for an I32 tensor.</summary>
    public float[]? Floats { get; }

    /// <summary>The I32 data, or null for an F32 tensor.</summary>
    public int[]? Ints { get; }

    /// <summary>The element type written.</summary>
    public SafeTensorDType DType => Floats is null ? SafeTensorDType.I32 : SafeTensorDType.F32;

    internal ReadOnlySpan<byte> Bytes => Floats is null ? MemoryMarshal.AsBytes(Ints.AsSpan()) : MemoryMarshal.AsBytes(Floats.AsSpan());
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
            foreach (var t in tensors)
            {
                if (BitConverter.IsLittleEndian)
                {
                    stream.Write(t.Bytes);
                    continue;
                }
                var swapped = t.Bytes.ToArray();
                var words = MemoryMarshal.Cast<byte, int>(swapped.AsSpan());
                BinaryPrimitives.ReverseEndianness(words, words);
                stream.Write(swapped);
            }
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
                if (t.Name == "__metadata__" || !names.Add(t.Name)) throw new ArgumentException($"safetensors: tensor name '{t.Name}' is reserved or repeated", nameof(tensors));
                long size = t.Bytes.Length;
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
