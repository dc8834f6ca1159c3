using ILGPU;
using ILGPU.Runtime;

namespace Engine.Ilgpu;

/// <summary>
/// Device memory of an <see cref="IlgpuBackend"/>: a pooled <see cref="MemoryBuffer1D{T, TStride}"/> that may be
/// longer than <see cref="Storage.Length"/> (its size class). Freeing returns the buffer to the backend's pool.
/// </summary>
internal sealed class IlgpuStorage : Storage
{
    readonly IlgpuBackend _backend;
    MemoryBuffer1D<float, Stride1D.Dense>? _buffer;

    internal IlgpuStorage(IlgpuBackend backend, MemoryBuffer1D<float, Stride1D.Dense> buffer, int length) : base(backend, length)
    {
        _backend = backend;
        _buffer = buffer;
    }

    /// <summary>The first <see cref="Storage.Length"/> elements of the buffer.</summary>
    public ArrayView1D<float, Stride1D.Dense> View =>
        (_buffer ?? throw new ObjectDisposedException(nameof(IlgpuStorage), "device storage was used after it was freed")).View.SubView(0, Length);

    /// <inheritdoc/>
    protected override void Free()
    {
        var b = Interlocked.Exchange(ref _buffer, null);
        if (b is not null) _backend.Pool.Return(b);
    }
}
