using BenchmarkDotNet.Running;
using Engine.Bench;

// `ops`: the plain timing table that bench/compare-ops.sh sets beside NumPy and PyTorch.
// Anything else runs the BenchmarkDotNet suites of this assembly: `dotnet run -c Release --project bench -- --filter '*Gemm*'`.
if (args.Length > 0 && args[0] == "ops") return OpsTiming.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(OpsTiming).Assembly).Run(args);
return 0;
