using BenchmarkDotNet.Attributes;

namespace Engine.Bench;

/// <summary>Row softmax over GPT-2-sized activations: [8192, 768] (many short rows) and [512, 3072].</summary>
[Config(typeof(ThroughputConfig))]
public class SoftmaxBenchmarks
{
    Tensor _x = null!;

    [Params(8192, 512)]
    public int Rows { get; set; }

    [Params(768, 3072)]
    public int Cols { get; set; }

    [GlobalSetup]
    public void Setup() => _x = Tensor.Randn(new Shape(Rows, Cols), 1);

    [GlobalCleanup]
    public void Cleanup() => _x.Dispose();

    [Benchmark, BytesPerElement(8)]
    public void Softmax()
    {
        using var y = _x.Softmax();
    }

    [Benchmark, BytesPerElement(8)]
    public void LogSoftmax()
    {
        using var y = _x.LogSoftmax();
    }
}
