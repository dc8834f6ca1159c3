namespace Engine.Ilgpu.Kernels;

/// <summary>
/// The scalar arguments of one GEMM launch: c[b] (+)= op(a[b]) · op(b[b]) for each batch b, with a stored
/// [M, K] ([K, M] when <see cref="TransA"/>), b stored [K, N] ([N, K] when <see cref="TransB"/>) and c [M, N],
/// all row-major and dense. Strides are in elements; a batch stride of 0 broadcasts. The Vector flags say
/// that every row of that operand starts at a multiple of 4 elements (so 128-bit loads are aligned).
/// Flags are ints (0/1) because kernel parameters must be blittable.
/// </summary>
internal readonly record struct GemmArgs(
    int M, int N, int K, int Batch,
    int BatchStrideA, int BatchStrideB,
    int TransA, int TransB, int Accumulate,
    int VectorA, int VectorB, int VectorC);
