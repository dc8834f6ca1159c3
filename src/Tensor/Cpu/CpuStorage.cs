using System.Runtime.InteropServices;

namespace Engine.Cpu;

/// <summary>Native, 64-byte aligned, zero-initialised host memory, freed deterministically.</summary>
public sealed unsafe class CpuStorage : Storage
{
    internal CpuStorage(IBackend backend, int length) : base(backend, length)
    {
        nuint bytes = (nuint)Math.Max(length, 1) * sizeof(float);
        Pointer = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(Pointer, bytes);
    }

    /// <summary>The first element.</summary>
    public float* Pointer { get; private set; }

    /// <inheritdoc/>
    protected override void Free()
    {
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}
