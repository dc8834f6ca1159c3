using System.Runtime.InteropServices;

namespace Engine.Cpu;

/// <summary>
/// Native, 64-byte aligned host memory (zero-initialised unless asked not to be), freed deterministically.
/// Large blocks (≥ 4 MiB) are 2 MiB aligned, use transparent huge pages, and are recycled through a small
/// cache of freed blocks, because a fresh block costs a page fault and a kernel-side zeroing per page on
/// first touch, which for element-wise ops takes longer than the op itself.
/// </summary>
internal sealed unsafe partial class CpuStorage : Storage
{
    /// <summary>Blocks at least this large are 2 MiB aligned, advised to use huge pages and cached when freed.</summary>
    const nuint HugeThreshold = 4 << 20;
    const nuint HugePage = 2 << 20;
    const int MadvHugePage = 14;

    /// <summary>The most freed bytes kept for reuse; beyond it freed blocks go back to the system.</summary>
    const nuint CacheLimit = 1 << 30;

    static readonly Lock s_cacheLock = new();
    static readonly Dictionary<nuint, Stack<nint>> s_cache = [];
    static nuint s_cachedBytes;

    readonly nuint _bytes;

    internal CpuStorage(IBackend backend, int length, bool zero = true) : base(backend, length)
    {
        nuint bytes = (nuint)Math.Max(length, 1) * sizeof(float);
        if (bytes >= HugeThreshold && OperatingSystem.IsLinux())
        {
            bytes = (bytes + HugePage - 1) / HugePage * HugePage;
            Pointer = TakeCached(bytes);
            if (Pointer is null)
            {
                Pointer = (float*)NativeMemory.AlignedAlloc(bytes, HugePage);
                // Advice only: a kernel without transparent huge pages ignores it.
                _ = Madvise(Pointer, bytes, MadvHugePage);
            }
        }
        else Pointer = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        _bytes = bytes;
        if (zero) NativeMemory.Clear(Pointer, bytes);
        else if (PoisonUninitialized) new Span<float>(Pointer, Math.Max(length, 1)).Fill(float.NaN);
    }

    /// <summary>
    /// Tests set this so uninitialised storage starts as NaN: an op that leaves any output element
    /// unwritten then fails every value check instead of passing by luck on zeroed pages.
    /// </summary>
    internal static bool PoisonUninitialized { get; set; }

    /// <summary>The first element.</summary>
    public float* Pointer { get; private set; }

    /// <summary>Bytes of freed large blocks currently kept for reuse.</summary>
    public static long CachedBytes
    {
        get
        {
            lock (s_cacheLock) return (long)s_cachedBytes;
        }
    }

    /// <summary>Returns every cached block to the system.</summary>
    public static void TrimCache()
    {
        lock (s_cacheLock)
        {
            foreach (var stack in s_cache.Values)
                while (stack.Count > 0) NativeMemory.AlignedFree((void*)stack.Pop());
            s_cachedBytes = 0;
        }
    }

    static float* TakeCached(nuint bytes)
    {
        lock (s_cacheLock)
        {
            if (!s_cache.TryGetValue(bytes, out var stack) || stack.Count == 0) return null;
            s_cachedBytes -= bytes;
            return (float*)stack.Pop();
        }
    }

    /// <inheritdoc/>
    protected override void Free()
    {
        var p = Pointer;
        Pointer = null;
        if (_bytes >= HugeThreshold && OperatingSystem.IsLinux())
        {
            lock (s_cacheLock)
            {
                if (s_cachedBytes + _bytes <= CacheLimit)
                {
                    if (!s_cache.TryGetValue(_bytes, out var stack)) s_cache[_bytes] = stack = new Stack<nint>();
                    stack.Push((nint)p);
                    s_cachedBytes += _bytes;
                    return;
                }
            }
        }
        NativeMemory.AlignedFree(p);
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
