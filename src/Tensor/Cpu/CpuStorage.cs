using System.Runtime.InteropServices;

namespace Engine.Cpu;

/// <summary>Native, 64-byte aligned host memory (zero-initialised unless asked not to be), freed deterministically.</summary>
public sealed unsafe partial class CpuStorage : Storage
{
    /// <summary>Blocks at least this large are 2 MiB aligned and advised to use transparent huge pages.</summary>
    const nuint HugeThreshold = 4 << 20;
    const nuint HugePage = 2 << 20;
    const int MadvHugePage = 14;

    internal CpuStorage(IBackend backend, int length, bool zero = true) : base(backend, length)
    {
        nuint bytes = (nuint)Math.Max(length, 1) * sizeof(float);
        bool huge = bytes >= HugeThreshold && OperatingSystem.IsLinux();
        Pointer = (float*)NativeMemory.AlignedAlloc(bytes, huge ? HugePage : 64);
        // A large fresh block is faulted in page by page on first touch; with 4 KiB pages that costs
        // more than the op that writes it (16 384 faults for 64 MiB). Huge pages cut it 512-fold, as
        // NumPy does for its large arrays. Advice only: a kernel without THP simply ignores it.
        if (huge) _ = Madvise(Pointer, bytes / HugePage * HugePage, MadvHugePage);
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

    /// <inheritdoc/>
    protected override void Free()
    {
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
