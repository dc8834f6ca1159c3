using System.Runtime.InteropServices;

namespace Engine.Cpu;

/// <summary>
/// Per-thread, 64-byte aligned scratch for the packed panels of <see cref="Gemm"/>, reused across calls so that
/// the hot path does not allocate. Each thread keeps at most two buffers (A and B panels) alive for its lifetime;
/// a nested call on a thread whose buffers are already leased gets temporary ones that are freed on dispose.
/// </summary>
unsafe struct GemmWorkspace : IDisposable
{
    [ThreadStatic] static float* cachedA, cachedB;
    [ThreadStatic] static nint cachedALength, cachedBLength;
    [ThreadStatic] static bool leased;

    readonly bool owned;

    /// <summary>The A-panel buffer.</summary>
    public float* A { get; }

    /// <summary>The B-panel buffer.</summary>
    public float* B { get; }

    GemmWorkspace(float* a, float* b, bool owned)
    {
        A = a;
        B = b;
        this.owned = owned;
    }

    /// <summary>Leases buffers of at least the given lengths (in floats).</summary>
    public static GemmWorkspace Lease(nint lengthA, nint lengthB)
    {
        if (leased)
            return new GemmWorkspace(Alloc(lengthA), Alloc(lengthB), owned: true);
        if (cachedALength < lengthA)
        {
            NativeMemory.AlignedFree(cachedA);
            cachedA = Alloc(lengthA);
            cachedALength = lengthA;
        }
        if (cachedBLength < lengthB)
        {
            NativeMemory.AlignedFree(cachedB);
            cachedB = Alloc(lengthB);
            cachedBLength = lengthB;
        }
        leased = true;
        return new GemmWorkspace(cachedA, cachedB, owned: false);
    }

    static float* Alloc(nint length) => (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 16) * sizeof(float), 64);

    /// <summary>Returns the buffers to the thread (or frees temporary ones).</summary>
    public readonly void Dispose()
    {
        if (owned)
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
        }
        else leased = false;
    }
}
