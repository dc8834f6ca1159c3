using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Bench;

/// <summary>
/// CPU SGEMM throughput on the transformer-sized target shapes, plain and with either operand transposed
/// (autograd's backward products). Each call is c += op(a)·op(b) into a preallocated c, so the timing is the
/// GEMM alone. The GFLOP/s column is 2·M·N·K over the median time.
/// <c>dotnet run -c Release --project bench -- --filter '*Gemm*'</c>; the peers, level by level, are in bench/compare-levels.sh.
/// </summary>
[Config(typeof(Config))]
public class GemmBenchmarks
{
    /// <summary>The target shapes, M×N×K.</summary>
    public static IEnumerable<string> Shapes => ["512x768x768", "512x3072x768", "512x768x3072", "1024x1024x1024", "2048x2048x2048"];

    /// <summary>M×N×K of the product.</summary>
    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "";

    /// <summary>NN: a·b; TN: aᵀ·b; NT: a·bᵀ.</summary>
    [Params("NN", "TN", "NT")]
    public string Op { get; set; } = "";

    Tensor a = null!, b = null!, c = null!;
    bool transA, transB;

    [GlobalSetup]
    public void Setup()
    {
        var (m, n, k) = Parse(Shape);
        transA = Op == "TN";
        transB = Op == "NT";
        a = Tensor.Randn(transA ? new Shape(k, m) : new Shape(m, k), seed: 1);
        b = Tensor.Randn(transB ? new Shape(n, k) : new Shape(k, n), seed: 2);
        c = Tensor.Zeros(new Shape(m, n));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        a.Dispose();
        b.Dispose();
        c.Dispose();
    }

    [Benchmark]
    public void Sgemm() => Tensor.MatmulAccumulate(c, a, b, transA, transB);

    static (int M, int N, int K) Parse(string shape)
    {
        var d = shape.Split('x').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return (d[0], d[1], d[2]);
    }

    sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new GflopsColumn());
    }

    /// <summary>2·M·N·K / median time, in GFLOP/s.</summary>
    sealed class GflopsColumn : IColumn
    {
        public string Id => nameof(GflopsColumn);
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2·M·N·K floating-point operations per second over the median time, in 10⁹";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats is null || benchmarkCase.Parameters["Shape"] is not string shape) return "-";
            var (m, n, k) = Parse(shape);
            return (2.0 * m * n * k / stats.Median).ToString("F1", CultureInfo.InvariantCulture);
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
    }
}

/// <summary>
/// Many small products, as in attention (48 heads·batches of 64×64·64×64): the backend spreads the batch over
/// the cores, one single-threaded GEMM per matrix. The baseline runs the same kernel matrix by matrix, each
/// split across the cores, which is what the call site did before.
/// </summary>
public unsafe class GemmBatchedBenchmarks
{
    const int Batch = 48, M = 64, N = 64, K = 64;

    Tensor a = null!, b = null!, c = null!;

    [GlobalSetup]
    public void Setup()
    {
        a = Tensor.Randn(new Shape(Batch, M, K), seed: 1);
        b = Tensor.Randn(new Shape(Batch, K, N), seed: 2);
        c = Tensor.Zeros(new Shape(Batch, M, N));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        a.Dispose();
        b.Dispose();
        c.Dispose();
    }

    [Benchmark]
    public void AcrossBatch() => Tensor.MatmulAccumulate(c, a, b);

    [Benchmark(Baseline = true)]
    public void WithinEachMatrix()
    {
        float* pa = Ptr(a), pb = Ptr(b), pc = Ptr(c);
        for (int i = 0; i < Batch; i++)
            Cpu.Gemm.Multiply(pa + i * M * K, false, pb + i * K * N, false, pc + i * M * N, M, N, K, accumulate: true);
    }

    static float* Ptr(Tensor t) => ((Cpu.CpuStorage)t.Storage).Pointer + t.Offset;
}
