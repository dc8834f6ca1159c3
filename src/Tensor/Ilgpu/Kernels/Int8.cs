namespace Engine.Ilgpu.Kernels;

/// <summary>
/// Eight ints passed by value to a kernel (shapes and strides of up to eight dimensions): kernels take no
/// arrays, so the dimensions travel as fields and are read through a switch.
/// </summary>
struct Int8
{
    /// <summary>Element 0.</summary>
    public int E0;
    /// <summary>Element 1.</summary>
    public int E1;
    /// <summary>Element 2.</summary>
    public int E2;
    /// <summary>Element 3.</summary>
    public int E3;
    /// <summary>Element 4.</summary>
    public int E4;
    /// <summary>Element 5.</summary>
    public int E5;
    /// <summary>Element 6.</summary>
    public int E6;
    /// <summary>Element 7.</summary>
    public int E7;

    /// <summary>The most dimensions a kernel plan carries.</summary>
    public const int Capacity = 8;

    /// <summary>Element <paramref name="k"/> (0 ≤ k &lt; 8).</summary>
    public readonly int Get(int k) => k switch
    {
        0 => E0,
        1 => E1,
        2 => E2,
        3 => E3,
        4 => E4,
        5 => E5,
        6 => E6,
        _ => E7,
    };

    /// <summary>Packs up to eight values; the rest are 0.</summary>
    public static Int8 From(ReadOnlySpan<int> v)
    {
        if (v.Length > Capacity) throw new NotSupportedException($"ilgpu: {v.Length} dimensions exceed the kernels' limit of {Capacity}");
        Span<int> e = stackalloc int[Capacity];
        v.CopyTo(e);
        return new Int8 { E0 = e[0], E1 = e[1], E2 = e[2], E3 = e[3], E4 = e[4], E5 = e[5], E6 = e[6], E7 = e[7] };
    }
}

/// <summary>A strided n-d copy for <see cref="ElementwiseKernels.CopyStrided"/>.</summary>
struct CopyArgs
{
    /// <summary>Number of dimensions.</summary>
    public int Rank;
    /// <summary>Elements to copy.</summary>
    public int Count;
    /// <summary>Sizes.</summary>
    public Int8 Shape;
    /// <summary>Source strides.</summary>
    public Int8 Src;
    /// <summary>Destination strides.</summary>
    public Int8 Dst;
    /// <summary>Source offset, in elements.</summary>
    public int SrcOffset;
    /// <summary>Destination offset, in elements.</summary>
    public int DstOffset;
}

/// <summary>Broadcast iteration for binary and ternary kernels: the output is contiguous, each input strided.</summary>
struct BroadcastArgs
{
    /// <summary>Number of dimensions.</summary>
    public int Rank;
    /// <summary>Output elements.</summary>
    public int Count;
    /// <summary>Sizes.</summary>
    public Int8 Shape;
    /// <summary>Strides of input 0.</summary>
    public Int8 S0;
    /// <summary>Strides of input 1.</summary>
    public Int8 S1;
    /// <summary>Strides of input 2 (Where only).</summary>
    public Int8 S2;
}
