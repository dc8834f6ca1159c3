using BenchmarkDotNet.Attributes;

namespace Engine.Bench;

/// <summary>Layer norm (forward, with mean and rstd) over [8192, 768] and [512, 3072].</summary>
[Config(typeof(ThroughputConfig))]
public class LayerNormBenchmarks
{
    Tensor _x = null!, _w = null!, _b = null!;

    [Params(8192, 512)]
    public int Rows { get; set; }

    [Params(768, 3072)]
    public int Cols { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = Tensor.Randn(new Shape(Rows, Cols), 1);
        _w = Tensor.Rand(new Shape(Cols), 2);
        _b = Tensor.Rand(new Shape(Cols), 3);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _x.Dispose();
        _w.Dispose();
        _b.Dispose();
    }

    [Benchmark, BytesPerElement(8)]
    public void LayerNorm()
    {
        using var y = _x.LayerNorm(_w, _b);
    }
}
