using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Engine;

/// <summary>
/// An n-dimensional array of <see cref="DType.Float32"/> or <see cref="DType.Int32"/> elements in
/// contiguous row-major storage on one <see cref="Device"/>. <see cref="Reshape"/>, <see cref="Narrow"/>
/// and the indexer are cheap views that share storage; every other op materialises a new tensor.
/// Tensors own device memory: dispose them, or create them inside a <see cref="TensorScope"/>.
/// </summary>
/// <remarks>
/// Where this differs from <c>torch.Tensor</c>: there are no strides, so <see cref="Permute"/>, <see cref="Transpose"/> and
/// <see cref="Slice"/> copy (PyTorch returns strided views); integer tensors are Int32 (PyTorch's indices are int64); and
/// nothing is freed by the garbage collector (see <see cref="TensorLeaks"/> to find a forgotten <see cref="Dispose"/>).
/// </remarks>
public sealed partial class Tensor : IDisposable
{
    Storage? _storage;
    readonly TensorLeaks.Watch? _leakWatch;

    Tensor(Storage storage, Shape shape, DType dtype, int offset)
    {
        _storage = storage;
        Shape = shape;
        DType = dtype;
        Offset = offset;
        _leakWatch = TensorLeaks.Start(shape, dtype);
        TensorScope.Track(this);
    }

    /// <summary>The sizes of the dimensions.</summary>
    public Shape Shape { get; }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Offset of the first element within <see cref="Storage"/>.</summary>
    public int Offset { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Rank;

    /// <summary>Number of elements.</summary>
    public int Numel => Shape.Numel;

    /// <summary>The device whose memory holds the elements.</summary>
    public Device Device { get; private init; } = Device.Cpu;

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>The memory; throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    internal Storage Storage => _storage ?? throw new ObjectDisposedException(nameof(Tensor), $"tensor {Shape} was used after it was disposed");

    internal IBackend Backend => Storage.Backend;

    /// <summary>
    /// Counts the in-place writes to this tensor's memory (shared by its views), so a caller that saved the
    /// tensor can tell whether it changed since; throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.
    /// </summary>
    public int Version => Storage.Version;

    /// <summary>True when this tensor and <paramref name="other"/> are views of the same memory.</summary>
    public bool SharesMemoryWith(Tensor other) => ReferenceEquals(Storage, other.Storage);

    /// <summary>Number of tensor memory blocks allocated and not yet freed, on all devices: a leak check.</summary>
    public static long LiveStorageCount => Storage.LiveCount;

    /// <summary>Releases this tensor's hold on its storage; the memory is freed when no view still holds it.</summary>
    public void Dispose()
    {
        var s = Interlocked.Exchange(ref _storage, null);
        if (s is null) return;
        _leakWatch?.Disposed();
        s.Release();
    }

    // ---- creation -------------------------------------------------------------------------------

    /// <summary>A new zero-filled tensor.</summary>
    public static Tensor Zeros(Shape shape, Device? device = null, DType dtype = DType.Float32)
    {
        device ??= Device.Cpu;
        return new Tensor(device.Backend.Allocate(shape.Numel), shape, dtype, 0) { Device = device };
    }

    /// <summary>
    /// A new tensor whose elements are unspecified: only for ops whose backend call writes every element
    /// (or that write nothing because the tensor is empty).
    /// </summary>
    internal static Tensor Uninitialized(Shape shape, Device device, DType dtype = DType.Float32) =>
        new(device.Backend.AllocateUninitialized(shape.Numel), shape, dtype, 0) { Device = device };

    /// <summary>An <see cref="Uninitialized"/> tensor of this shape, dtype and device.</summary>
    internal Tensor UninitializedLike() => Uninitialized(Shape, Device, DType);

    /// <summary>A new tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(Shape shape, float value, Device? device = null)
    {
        device ??= Device.Cpu;
        var t = Uninitialized(shape, device);
        if (t.Numel > 0) t.Backend.Fill(t, value);
        return t;
    }

    /// <summary>A new tensor of ones.</summary>
    public static Tensor Ones(Shape shape, Device? device = null) => Full(shape, 1f, device);

    /// <summary>A scalar (rank-0) tensor.</summary>
    public static Tensor Scalar(float value, Device? device = null) => Full(new Shape(), value, device);

    /// <summary>A float tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, Shape shape, Device? device = null)
    {
        if (data.Length != shape.Numel) throw new TensorShapeException("from_array",
            $"{data.Length} values do not fill shape {shape} ({shape.Numel} elements)");
        var t = Uninitialized(shape, device ?? Device.Cpu);
        t.Backend.Write(data, t.Storage, 0);
        return t;
    }

    /// <summary>A 1-D float tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(float[] data, Device? device = null) => FromArray(data, new Shape(data.Length), device);

    /// <summary>An Int32 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromInts(ReadOnlySpan<int> data, Shape shape, Device? device = null)
    {
        if (data.Length != shape.Numel) throw new TensorShapeException("from_ints",
            $"{data.Length} values do not fill shape {shape} ({shape.Numel} elements)");
        var t = Uninitialized(shape, device ?? Device.Cpu, DType.Int32);
        t.Backend.Write(MemoryMarshal.Cast<int, float>(data), t.Storage, 0);
        if (t.Device.Kind != DeviceKind.Cpu) s_hostInts.AddOrUpdate(t.Storage, new IntsOnHost(t.Storage.Version, 0, data.ToArray()));
        return t;
    }

    /// <summary>0, 1, …, n−1 as floats.</summary>
    public static Tensor Arange(int n, Device? device = null)
    {
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = i;
        return FromArray(data, device);
    }

    /// <summary>A new zero-filled tensor of the same shape, dtype and device.</summary>
    public Tensor EmptyLike() => Zeros(Shape, Device, DType);

    /// <summary>A copy of this tensor on <paramref name="device"/> (a new tensor even when the device is the same).</summary>
    public Tensor To(Device device)
    {
        var host = new float[Numel];
        Backend.Read(Storage, Offset, host);
        var t = Uninitialized(Shape, device, DType);
        t.Backend.Write(host, t.Storage, 0);
        return t;
    }

    /// <summary>A copy with its own storage.</summary>
    public Tensor Clone()
    {
        _ = Storage;
        var t = UninitializedLike();
        if (Numel > 0) Backend.CopyStrided(this, t, new StridedCopy([Numel], [1], 0, [1], 0));
        return t;
    }

    // ---- host access ----------------------------------------------------------------------------

    /// <summary>Copies the elements of a float tensor to a new array.</summary>
    public float[] ToArray()
    {
        RequireDType(DType.Float32, "to_array");
        var a = new float[Numel];
        Backend.Read(Storage, Offset, a);
        return a;
    }

    /// <summary>Copies the elements of an Int32 tensor to a new array.</summary>
    public int[] ToInts()
    {
        RequireDType(DType.Int32, "to_ints");
        return (int[])HostInts().Clone();
    }

    /// <summary>A host copy of an Int32 tensor on a device, valid while its storage's version and the view are unchanged.</summary>
    sealed record IntsOnHost(int Version, int Offset, int[] Values);

    /// <summary>
    /// Ids and targets are checked on the host before every op that indexes with them, and a training step
    /// uses each several times (forward, loss, backward). On a device each check would be a read that waits
    /// for all queued work, so the host copy is kept beside the storage: FromInts seeds it, and a write to
    /// the storage (which bumps its version) invalidates it.
    /// </summary>
    static readonly ConditionalWeakTable<Storage, IntsOnHost> s_hostInts = new();

    /// <summary>The elements of an Int32 tensor on the host (read from a device at most once per storage version); callers must not modify
    /// it.</summary>
    internal int[] HostInts()
    {
        var s = Storage;
        if (s_hostInts.TryGetValue(s, out var h) && h.Version == s.Version && h.Offset == Offset && h.Values.Length == Numel) return h.Values;
        var a = new int[Numel];
        Backend.Read(s, Offset, MemoryMarshal.Cast<int, float>(a.AsSpan()));
        if (Device.Kind != DeviceKind.Cpu) s_hostInts.AddOrUpdate(s, new IntsOnHost(s.Version, Offset, a));
        return a;
    }

    /// <summary>The value of a one-element float tensor.</summary>
    public float ToScalar()
    {
        if (Numel != 1) throw new TensorShapeException("to_scalar", $"needs exactly one element, got shape {Shape}");
        return ToArray()[0];
    }

    /// <summary>Overwrites the elements with host data, in place.</summary>
    public void CopyFrom(ReadOnlySpan<float> data)
    {
        RequireDType(DType.Float32, "copy_from");
        if (data.Length != Numel) throw new TensorShapeException("copy_from", $"{data.Length} values for shape {Shape}");
        Backend.Write(data, Storage, Offset);
        Storage.MarkWritten();
    }

    // ---- views ----------------------------------------------------------------------------------

    /// <summary>A view with a new shape of the same number of elements; one dimension may be −1.</summary>
    public Tensor Reshape(params ReadOnlySpan<int> dims)
    {
        int[] d = dims.ToArray();
        int infer = -1, known = 1;
        for (int i = 0; i < d.Length; i++)
        {
            if (d[i] == -1)
            {
                if (infer >= 0) throw new TensorShapeException("reshape", $"more than one -1 in [{string.Join(", ", d)}] for {Shape}");
                infer = i;
            }
            else if (d[i] < 0) throw new TensorShapeException("reshape", $"negative size in [{string.Join(", ", d)}] for {Shape}");
            else known *= d[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0) throw new TensorShapeException("reshape", $"cannot reshape {Shape} to [{string.Join(", ", d)}]");
            d[infer] = Numel / known;
        }
        var shape = new Shape(d);
        if (shape.Numel != Numel) throw new TensorShapeException("reshape",
            $"cannot reshape {Shape} ({Numel} elements) to {shape} ({shape.Numel} elements)");
        return View(shape, Offset);
    }

    /// <summary>A view of rows [start, start+length) of the leading axis.</summary>
    public Tensor Narrow(int start, int length)
    {
        if (Rank == 0) throw new TensorShapeException("narrow", $"cannot narrow the scalar shape {Shape}");
        if (start < 0 || length < 0 || start + length > Shape[0])
            throw new TensorShapeException("narrow", $"rows [{start}, {start + length}) are out of range for shape {Shape}");
        int row = Shape.Product(1, Rank);
        return View(Shape.With(0, length), Offset + start * row);
    }

    /// <summary>A view of entry <paramref name="index"/> of the leading axis, with that axis removed.</summary>
    public Tensor this[int index]
    {
        get
        {
            if (Rank == 0) throw new TensorShapeException("index", $"cannot index the scalar shape {Shape}");
            if (index < 0 || index >= Shape[0]) throw new TensorShapeException("index", $"index {index} is out of range for shape {Shape}");
            int row = Shape.Product(1, Rank);
            return View(Shape.Without(0), Offset + index * row);
        }
    }

    Tensor View(Shape shape, int offset)
    {
        var s = Storage;
        s.Retain();
        return new Tensor(s, shape, DType, offset) { Device = Device };
    }

    // ---- validation helpers ---------------------------------------------------------------------

    internal void RequireDType(DType dtype, string op)
    {
        _ = Storage;
        if (DType != dtype) throw new TensorShapeException(op, $"expected a {dtype} tensor, got {DType} with shape {Shape}");
    }

    internal void RequireSameDevice(Tensor other, string op)
    {
        _ = Storage;
        _ = other.Storage;
        if (other.Device != Device) throw new TensorShapeException(op,
            $"tensors are on different devices ({Device} {Shape} and {other.Device} {other.Shape})");
    }

    internal void MarkWritten() => Storage.MarkWritten();

    /// <summary>A short description, with the values of small tensors.</summary>
    public override string ToString()
    {
        if (IsDisposed) return $"Tensor({Shape}, disposed)";
        var sb = new StringBuilder($"Tensor({Shape}, {DType}, {Device}");
        if (Numel <= 16)
        {
            sb.Append(", [");
            sb.Append(DType == DType.Int32 ? string.Join(", ", ToInts()) : string.Join(", ", ToArray().Select(v => v.ToString("G6"))));
            sb.Append(']');
        }
        return sb.Append(')').ToString();
    }
}
