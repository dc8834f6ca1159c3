namespace Engine.Simd;

/// <summary>
/// The float operations of one SIMD width. CPU loops are written once, generic over
/// <c>&lt;TSimd, TVector&gt;</c> (<see cref="Simd512"/>, <see cref="Simd256"/>, <see cref="Simd128"/>), and the JIT
/// compiles a separate copy for each width; <see cref="VectorWidth"/> picks the one the processor runs natively.
/// Every lane computes exactly what the scalar form of the same operation computes, so a loop gives the same
/// bits at every width as long as it keeps its order of additions independent of <see cref="Count"/>.
/// </summary>
public unsafe interface ISimd<TVector> where TVector : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TVector Zero { get; }

    /// <summary>All lanes one.</summary>
    static abstract TVector One { get; }

    /// <summary>Loads <see cref="Count"/> floats from p (any alignment).</summary>
    static abstract TVector Load(float* p);

    /// <summary>Stores the vector at p (any alignment).</summary>
    static abstract void Store(TVector v, float* p);

    /// <summary>x in every lane.</summary>
    static abstract TVector Broadcast(float x);

    /// <summary>a + b</summary>
    static abstract TVector Add(TVector a, TVector b);

    /// <summary>a − b</summary>
    static abstract TVector Subtract(TVector a, TVector b);

    /// <summary>a · b</summary>
    static abstract TVector Multiply(TVector a, TVector b);

    /// <summary>a / b</summary>
    static abstract TVector Divide(TVector a, TVector b);

    /// <summary>a · b + c with one rounding where the processor has FMA (every AVX2, AVX-512 and Arm64 one), else two.</summary>
    static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);

    /// <summary>The lane-wise maximum; NaN if either lane is NaN.</summary>
    static abstract TVector Max(TVector a, TVector b);

    /// <summary>The lane-wise minimum; NaN if either lane is NaN.</summary>
    static abstract TVector Min(TVector a, TVector b);

    /// <summary>√x</summary>
    static abstract TVector Sqrt(TVector x);

    /// <summary>eˣ, by the same per-lane algorithm at every width.</summary>
    static abstract TVector Exp(TVector x);

    /// <summary>All bits set where a = b.</summary>
    static abstract TVector Equals(TVector a, TVector b);

    /// <summary>All bits set where a &lt; b.</summary>
    static abstract TVector LessThan(TVector a, TVector b);

    /// <summary>All bits set where a ≤ b.</summary>
    static abstract TVector LessThanOrEqual(TVector a, TVector b);

    /// <summary>All bits set where a &gt; b.</summary>
    static abstract TVector GreaterThan(TVector a, TVector b);

    /// <summary>All bits set where a ≥ b.</summary>
    static abstract TVector GreaterThanOrEqual(TVector a, TVector b);

    /// <summary>Bitwise a AND b.</summary>
    static abstract TVector And(TVector a, TVector b);

    /// <summary>Bitwise NOT a.</summary>
    static abstract TVector Not(TVector a);

    /// <summary>a where the mask's bits are set, else b.</summary>
    static abstract TVector Select(TVector mask, TVector a, TVector b);

    /// <summary>The scalar a · b + c with the same rounding as <see cref="MultiplyAdd(TVector, TVector, TVector)"/>.</summary>
    static abstract float MultiplyAdd(float a, float b, float c);
}
