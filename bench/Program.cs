using BenchmarkDotNet.Running;
using Engine.Bench;

// Side-by-side timing modes print plain key=value lines for the scripts in bench/; everything else goes to
// BenchmarkDotNet: `dotnet run -c Release --project bench -- --filter '*Gemm*'`.
if (args is ["autograd"]) AutogradOverhead.Run();
else if (args is ["gpt"]) GptThroughput.Run();
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
