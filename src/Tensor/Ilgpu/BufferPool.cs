using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Ilgpu;

/// <summary>
/// Free lists of device buffers by size class (powers of two, at least <see cref="MinElements"/>), because
/// every raw allocation is a cuMemAlloc and every free a cuMemFree, each far slower than a small kernel.
/// Buffers are reused in stream order: all work runs on one stream, so a buffer freed after a launch is
/// only overwritten by work queued after that launch.
/// </summary>
sealed class BufferPool : IDisposable
{
    internal const int MinElements = 64;

    readonly Accelerator _accelerator;
    readonly string _deviceName;
    readonly Lock _lock = new();
    readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> _free = [];
    bool _disposed;

    internal BufferPool(Accelerator accelerator, string deviceName)
    {
        _accelerator = accelerator;
        _deviceName = deviceName;
    }

    /// <summary>Bytes held by live storages and by the free lists.</summary>
    internal long AllocatedBytes { get; private set; }

    /// <summary>Bytes in the free lists, ready for reuse.</summary>
    internal long PooledBytes { get; private set; }

    /// <summary>
    /// An upper bound on <see cref="AllocatedBytes"/> that acts like the device's capacity (null: the device
    /// decides). Lets a process share a GPU, and lets tests exercise the out-of-memory path.
    /// </summary>
    internal long? LimitBytes { get; set; }

    /// <summary>The element count of the size class holding <paramref name="length"/> elements.</summary>
    internal static long SizeClass(int length)
    {
        long n = MinElements;
        while (n < length) n <<= 1;
        return n;
    }

    /// <summary>A buffer of at least <paramref name="length"/> elements, reused when one of its class is free.</summary>
    internal MemoryBuffer1D<float, Stride1D.Dense> Rent(int length)
    {
        long n = SizeClass(length);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.TryGetValue(n, out var stack) && stack.Count > 0)
            {
                PooledBytes -= n * sizeof(float);
                return stack.Pop();
            }
            try
            {
                return AllocateRaw(n);
            }
            catch (Exception e) when (IsOutOfMemory(e))
            {
                // Freed buffers of other classes may be what the device lacks: give them back and retry once.
                TrimLocked();
                try
                {
                    return AllocateRaw(n);
                }
                catch (Exception again) when (IsOutOfMemory(again))
                {
                    throw new OutOfMemoryException(
                        $"{_deviceName}: out of device memory allocating {n * sizeof(float):N0} bytes ({length:N0} float32 elements) on " +
                            $"{_accelerator.Name}; " +
                        $"{AllocatedBytes:N0} bytes are held by live tensors{(LimitBytes is { } l ? $", limit {l:N0} bytes" : "")}", again);
                }
            }
        }
    }

    MemoryBuffer1D<float, Stride1D.Dense> AllocateRaw(long n)
    {
        long bytes = n * sizeof(float);
        if (LimitBytes is { } limit && AllocatedBytes + bytes > limit) throw new OutOfMemoryException("device memory limit reached");
        var b = _accelerator.Allocate1D<float>(n);
        AllocatedBytes += bytes;
        return b;
    }

    static bool IsOutOfMemory(Exception e) =>
        e is OutOfMemoryException
        || (e is CudaException c && (c.Error == nameof(CudaError.CUDA_ERROR_OUT_OF_MEMORY) || c.Message.Contains("out of memory",
            StringComparison.OrdinalIgnoreCase)));

    /// <summary>Puts a buffer back on its free list.</summary>
    internal void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                // The accelerator (and with it every buffer) is gone already.
                return;
            }
            long n = buffer.Length;
            if (!_free.TryGetValue(n, out var stack)) _free[n] = stack = new Stack<MemoryBuffer1D<float, Stride1D.Dense>>();
            stack.Push(buffer);
            PooledBytes += n * sizeof(float);
        }
    }

    /// <summary>Frees every pooled buffer.</summary>
    internal void Trim()
    {
        lock (_lock) TrimLocked();
    }

    void TrimLocked()
    {
        if (_disposed) return;
        foreach (var stack in _free.Values)
        {
            while (stack.Count > 0)
            {
                var b = stack.Pop();
                AllocatedBytes -= b.Length * sizeof(float);
                b.Dispose();
            }
        }
        PooledBytes = 0;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            TrimLocked();
            _disposed = true;
        }
    }
}
