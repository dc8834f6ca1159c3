using BenchmarkDotNet.Attributes;

namespace Engine.Bench;

/// <summary>Large element-wise ops, memory-bound: compare GB/s with a 2-thread triad (~42 GB/s here).</summary>
[Config(typeof(ThroughputConfig))]
public class ElementwiseBenchmarks
{
    Tensor _a = null!, _b = null!;

    /// <summary>Elements per tensor: 16M floats (64 MiB), far beyond the caches.</summary>
    [Params(1 << 24)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = Tensor.Rand(new Shape(N), 1);
        _b = Tensor.Rand(new Shape(N), 2);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
    }

    [Benchmark, BytesPerElement(12)]
    public void Add()
    {
        using var y = _a + _b;
    }

    [Benchmark, BytesPerElement(12)]
    public void Mul()
    {
        using var y = _a * _b;
    }

    [Benchmark, BytesPerElement(8)]
    public void Gelu()
    {
        using var y = _a.Gelu();
    }

    [Benchmark, BytesPerElement(8)]
    public void Exp()
    {
        using var y = _a.Exp();
    }

    [Benchmark, BytesPerElement(8)]
    public void AddInPlace() => _a.AddInPlace(_b);
}
