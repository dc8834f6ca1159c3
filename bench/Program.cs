using BenchmarkDotNet.Running;
using Engine.Bench;

// Side-by-side timing modes print plain tables or key=value lines for the scripts in bench/ (compare-*.sh);
// anything else runs the BenchmarkDotNet suites: `dotnet run -c Release --project bench -- --filter '*Gemm*'`.
switch (args)
{
    case ["ops", ..]:
        return OpsTiming.Run(args[1..]);
    case ["autograd"]:
        AutogradOverhead.Run();
        return 0;
    case ["gpu", ..]:
        return GpuTiming.Run(args[1..]);
    case ["packed", ..]:
        return PackedGrpoTiming.Run(args[1..]);
    case ["gpt"]:
        GptThroughput.Run();
        return 0;
    default:
        BenchmarkSwitcher.FromAssembly(typeof(OpsTiming).Assembly).Run(args);
        return 0;
}
