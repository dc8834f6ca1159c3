using BenchmarkDotNet.Running;

// Runs the BenchmarkDotNet suites of this assembly: `dotnet run -c Release --project bench -- --filter '*Gemm*'`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
