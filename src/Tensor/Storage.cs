namespace Engine;

/// <summary>
/// A block of device memory of 4-byte elements, owned by one backend. Tensors that view the same block
/// share one <see cref="Storage"/>; it is freed when the last of them is disposed.
/// </summary>
internal abstract class Storage
{
    static long s_live;
    int _references = 1;

    /// <summary>Creates a storage of <paramref name="length"/> elements.</summary>
    protected Storage(IBackend backend, int length)
    {
        Backend = backend;
        Length = length;
        Interlocked.Increment(ref s_live);
    }

    /// <summary>Number of storages allocated and not yet freed, on all devices (a leak check).</summary>
    public static long LiveCount => Interlocked.Read(ref s_live);

    /// <summary>The backend that owns the memory.</summary>
    public IBackend Backend { get; }

    /// <summary>Length in elements.</summary>
    public int Length { get; }

    /// <summary>Incremented by every in-place write, so autograd can tell that a saved tensor changed.</summary>
    public int Version { get; private set; }

    /// <summary>True once the memory has been released.</summary>
    public bool IsFreed => Volatile.Read(ref _references) <= 0;

    internal void MarkWritten() => Version++;

    internal void Retain()
    {
        if (Interlocked.Increment(ref _references) <= 1) throw new ObjectDisposedException(nameof(Storage));
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0) return;
        Free();
        Interlocked.Decrement(ref s_live);
    }

    /// <summary>Returns the memory to the device.</summary>
    protected abstract void Free();
}
