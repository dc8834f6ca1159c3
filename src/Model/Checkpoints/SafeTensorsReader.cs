using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Engine.Model.Checkpoints;

/// <summary>One tensor of a safetensors file as its header describes it.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions (empty for a scalar).</param>
/// <param name="Begin">First byte, relative to the data section after the header.</param>
/// <param name="End">One past the last byte, relative to the data section.</param>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, int[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long Numel => Shape.Aggregate(1L, (n, d) => n * d);

    /// <summary>The shape written as <c>[a, b]</c>.</summary>
    public string ShapeText => SafeTensors.FormatShape(Shape);
}

/// <summary>
/// Reads a safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}</c>), then the data.
/// <see cref="Open"/> validates the whole header against the file length before anything is read or
/// allocated from it, so a hostile or truncated file fails with a <see cref="CheckpointException"/> that
/// names the file and the tensor or field; tensors are then read one by one straight into a span.
/// </summary>
public sealed class SafeTensorsReader : IDisposable
{
    /// <summary>The largest header accepted (as in the reference implementation): 100 MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly SafeFileHandle _file;
    readonly long _dataStart;
    readonly Dictionary<string, SafeTensorInfo> _byName;

    SafeTensorsReader(string path, SafeFileHandle file, long dataStart, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _file = file;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>Every tensor, in the order of the header.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The free-form string metadata (<c>__metadata__</c>); empty if absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Whether a tensor called <paramref name="name"/> exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of tensor <paramref name="name"/>.</summary>
    public SafeTensorInfo this[string name] =>
        _byName.TryGetValue(name, out var t) ? t : throw new CheckpointException($"safetensors {Path}: no tensor named '{name}'");

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    public static SafeTensorsReader Open(string path)
    {
        InputFile.Check(path, "safetensors file");
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CheckpointException($"safetensors {path}: cannot be read: {e.Message}", e);
        }
        try
        {
            long length = RandomAccess.GetLength(file);
            Span<byte> prefix = stackalloc byte[8];
            if (length < 8 || RandomAccess.Read(file, prefix, 0) != 8)
                throw new CheckpointException($"safetensors {path}: file is {length} bytes, too short for the 8-byte header length (truncated?)");
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > MaxHeaderBytes)
                throw new CheckpointException($"safetensors {path}: header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
            if ((long)headerLength > length - 8)
                throw new CheckpointException(
                    $"safetensors {path}: header length {headerLength} runs past the end of the {length}-byte file (truncated?)");
            if (headerLength < 2)
                throw new CheckpointException($"safetensors {path}: header length {headerLength} is too small for a JSON object");
            var header = new byte[(int)headerLength];
            ReadExactly(file, header, 8, path, "header");
            long dataStart = 8 + (long)headerLength;
            List<SafeTensorInfo> tensors;
            Dictionary<string, string> metadata;
            try
            {
                (tensors, metadata) = ParseHeader(header, length - dataStart, path);
            }
            catch (InvalidOperationException e)
            {
                // System.Text.Json reports text it cannot decode (a lone surrogate in a name) this way.
                throw new CheckpointException($"safetensors {path}: header: {e.Message}", e);
            }
            return new SafeTensorsReader(path, file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static (List<SafeTensorInfo>, Dictionary<string, string>) ParseHeader(byte[] header, long dataLength, string path)
    {
        // The format allows trailing spaces as padding; the JSON must open with '{'.
        if (header[0] != (byte)'{') throw new CheckpointException($"safetensors {path}: header does not start with '{{'");
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new CheckpointException($"safetensors {path}: header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 }); // duplicates are named below
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"safetensors {path}: header is not valid JSON: {e.Message}", e);
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"safetensors {path}: header is not a JSON object");
        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw new CheckpointException($"safetensors {path}: duplicate entry '{prop.Name}' in the header");
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object)
                    throw new CheckpointException($"safetensors {path}: __metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new CheckpointException($"safetensors {path}: __metadata__ field '{m.Name}' is not a string");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                        throw new CheckpointException($"safetensors {path}: duplicate __metadata__ field '{m.Name}'");
                }
                continue;
            }
            tensors.Add(ParseEntry(prop.Name, prop.Value, dataLength, path));
        }
        CheckLayout(tensors, dataLength, path);
        return (tensors, metadata);
    }

    static SafeTensorInfo ParseEntry(string name, JsonElement e, long dataLength, string path)
    {
        string where = $"safetensors {path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: entry is not an object");
        JsonElement? dtypeJson = null, shapeJson = null, offsetsJson = null;
        foreach (var field in e.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeJson is null: dtypeJson = field.Value; break;
                case "shape" when shapeJson is null: shapeJson = field.Value; break;
                case "data_offsets" when offsetsJson is null: offsetsJson = field.Value; break;
                case "dtype" or "shape" or "data_offsets": throw new CheckpointException($"{where}: duplicate field '{field.Name}'");
                default: throw new CheckpointException($"{where}: unknown field '{field.Name}'");
            }
        }
        if (dtypeJson is not { ValueKind: JsonValueKind.String } dt) throw new CheckpointException($"{where}: missing or non-string 'dtype'");
        string dtypeText = dt.GetString()!;
        if (!SafeTensorDTypes.TryParse(dtypeText, out var dtype)) throw new CheckpointException($"{where}: unknown dtype '{dtypeText}'");

        if (shapeJson is not { ValueKind: JsonValueKind.Array } sh) throw new CheckpointException($"{where}: missing or non-array 'shape'");
        var shape = new int[sh.GetArrayLength()];
        long numel = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw new CheckpointException($"{where}: shape entry {i} is not an integer: {d.GetRawText()}");
            if (dim < 0) throw new CheckpointException($"{where}: shape entry {i} is negative ({dim})");
            if (dim > int.MaxValue) throw new CheckpointException($"{where}: shape entry {i} ({dim}) is too large");
            try
            {
                numel = checked(numel * dim);
            }
            catch (OverflowException)
            {
                throw new CheckpointException($"{where}: shape {sh.GetRawText()} overflows the element count");
            }
            shape[i++] = (int)dim;
        }

        if (offsetsJson is not { ValueKind: JsonValueKind.Array } off || off.GetArrayLength() != 2)
            throw new CheckpointException($"{where}: 'data_offsets' must be an array [begin, end]");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < 0)
            throw new CheckpointException($"{where}: data_offsets {off.GetRawText()} are not non-negative integers");
        if (end < begin) throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] are reversed");
        if (end > dataLength)
            throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] run past the {dataLength}-byte data section (truncated?)");
        long expected;
        try
        {
            expected = checked(numel * dtype.Size());
        }
        catch (OverflowException)
        {
            throw new CheckpointException($"{where}: shape {sh.GetRawText()} overflows the byte count");
        }
        if (end - begin != expected)
            throw new CheckpointException($"{where}: holds {end - begin} bytes, but {numel} elements of {dtypeText} need {expected}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>The tensors must tile the data section exactly: no overlap, no hole, nothing after the last.</summary>
    static void CheckLayout(List<SafeTensorInfo> tensors, long dataLength, string path)
    {
        long cursor = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin < cursor)
                throw new CheckpointException($"safetensors {path}: tensor '{t.Name}' [{t.Begin}, {t.End}] " +
                    $"overlaps tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            if (t.Begin > cursor)
                throw new CheckpointException($"safetensors {path}: bytes [{cursor}, {t.Begin}) before tensor '{t.Name}' belong to no tensor");
            cursor = t.End;
            previous = t;
        }
        if (cursor != dataLength)
            throw new CheckpointException($"safetensors {path}: the data section is {dataLength} bytes but the tensors cover {cursor}");
    }

    /// <summary>Reads a floating-point tensor (F32, or F64/F16/BF16 converted) into a new array.</summary>
    public float[] ReadFloats(string name)
    {
        var t = this[name];
        if (t.Numel > Array.MaxLength)
            throw new CheckpointException($"safetensors {Path}: tensor '{name}' has {t.Numel} elements, too many for one array");
        var data = new float[t.Numel];
        ReadFloats(name, data);
        return data;
    }

    /// <summary>
    /// Reads a floating-point tensor (F32, or F64/F16/BF16 converted) into <paramref name="destination"/>,
    /// whose length must be its element count.
    /// </summary>
    public void ReadFloats(string name, Span<float> destination)
    {
        var t = this[name];
        if (destination.Length != t.Numel)
            throw new ArgumentException($"safetensors {Path}: tensor '{name}' has {t.Numel} elements, the destination {destination.Length}",
                nameof(destination));
        switch (t.DType)
        {
            case SafeTensorDType.F32:
                ReadWords(t, MemoryMarshal.Cast<float, int>(destination));
                break;
            case SafeTensorDType.F16:
                ReadConverted(t, destination, 2, static (b, o) =>
                {
                    for (int i = 0; i < o.Length; i++)
                        o[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b[(2 * i)..]));
                });
                break;
            case SafeTensorDType.BF16:
                ReadConverted(t, destination, 2, static (b, o) =>
                {
                    for (int i = 0; i < o.Length; i++)
                        o[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b[(2 * i)..]) << 16);
                });
                break;
            case SafeTensorDType.F64:
                ReadConverted(t, destination, 8, static (b, o) =>
                {
                    for (int i = 0; i < o.Length; i++) o[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(b[(8 * i)..]);
                });
                break;
            default:
                throw new CheckpointException($"safetensors {Path}: tensor '{name}' is {t.DType}, not a floating-point type");
        }
    }

    /// <summary>Reads an integer tensor (I32, or I64 whose values fit in 32 bits) into a new array.</summary>
    public int[] ReadInts(string name)
    {
        var t = this[name];
        if (t.Numel > Array.MaxLength)
            throw new CheckpointException($"safetensors {Path}: tensor '{name}' has {t.Numel} elements, too many for one array");
        var data = new int[t.Numel];
        switch (t.DType)
        {
            case SafeTensorDType.I32:
                ReadWords(t, data);
                break;
            case SafeTensorDType.I64:
                var buffer = new byte[Math.Min(ChunkBytes, t.End - t.Begin)];
                for (long done = 0; done < data.Length;)
                {
                    int n = (int)Math.Min(buffer.Length / 8, data.Length - done);
                    ReadExactly(_file, buffer.AsSpan(0, n * 8), _dataStart + t.Begin + done * 8, Path, name);
                    for (int i = 0; i < n; i++)
                    {
                        long v = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(8 * i));
                        if (v is < int.MinValue or > int.MaxValue)
                            throw new CheckpointException($"safetensors {Path}: tensor '{name}' element {done + i} ({v}) does not fit in 32 bits");
                        data[done + i] = (int)v;
                    }
                    done += n;
                }
                break;
            default:
                throw new CheckpointException($"safetensors {Path}: tensor '{name}' is {t.DType}, not I32 or I64");
        }
        return data;
    }

    const int ChunkBytes = 1 << 16;

    /// <summary>
    /// Reads 4-byte little-endian words straight into <paramref name="destination"/>, in chunks (a span of bytes cannot exceed 2 GiB).
    /// </summary>
    void ReadWords(SafeTensorInfo t, Span<int> destination)
    {
        const int Chunk = 1 << 26; // words
        for (int done = 0; done < destination.Length; done += Chunk)
        {
            var part = destination.Slice(done, Math.Min(Chunk, destination.Length - done));
            ReadExactly(_file, MemoryMarshal.AsBytes(part), _dataStart + t.Begin + 4L * done, Path, t.Name);
            if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(part, part);
        }
    }

    delegate void Convert(ReadOnlySpan<byte> source, Span<float> destination);

    void ReadConverted(SafeTensorInfo t, Span<float> destination, int size, Convert convert)
    {
        var buffer = new byte[Math.Min(ChunkBytes, t.End - t.Begin)];
        int perChunk = buffer.Length / size;
        for (int done = 0; done < destination.Length;)
        {
            int n = Math.Min(perChunk, destination.Length - done);
            ReadExactly(_file, buffer.AsSpan(0, n * size), _dataStart + t.Begin + (long)done * size, Path, t.Name);
            convert(buffer.AsSpan(0, n * size), destination.Slice(done, n));
            done += n;
        }
    }

    static void ReadExactly(SafeFileHandle file, Span<byte> destination, long offset, string path, string what)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(file, destination, offset);
            if (n == 0) throw new CheckpointException($"safetensors {path}: file ended while reading '{what}' at byte {offset} (truncated?)");
            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Dispose();
}
