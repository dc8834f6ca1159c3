using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Bench;

/// <summary>Bytes one call must read plus write, per element of the benchmark's shape parameters.</summary>
[AttributeUsage(AttributeTargets.Method)]
sealed class BytesPerElementAttribute(int bytes) : Attribute
{
    public int Bytes { get; } = bytes;
}

/// <summary>
/// A GB/s column: elements = the product of the integer parameters (N, or Rows × Cols), times the
/// method's <see cref="BytesPerElementAttribute"/>, over the mean time.
/// </summary>
sealed class GBPerSecondColumn : IColumn
{
    public string Id => "GBps";
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Bytes read plus written per call over the mean time, in 10⁹ bytes per second";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var attr = (BytesPerElementAttribute?)Attribute.GetCustomAttribute(benchmarkCase.Descriptor.WorkloadMethod,
            typeof(BytesPerElementAttribute));
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (attr is null || stats is null) return "-";
        long elements = 1;
        foreach (var p in benchmarkCase.Parameters.Items)
            if (p.Value is int v) elements *= v;
        return (elements * attr.Bytes / stats.Mean).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>The config of the op-family suites: default jobs plus the GB/s column.</summary>
sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig() => AddColumn(new GBPerSecondColumn());
}
