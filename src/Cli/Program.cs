using Engine.Cli;
using Engine.Cli.Commands;

const string usage = """
    engine: a machine-learning engine in C#

    usage:
      engine grpo run --config FILE.json [--out DIR] [--steps N] [--resume] [--force]
      engine grpo tree [--full] [--n 1|2] [--r-neg R] [--seeds S] [--steps N] [--lr LR] [--out DIR] [--device D]
                    [--unpacked]
      engine grpo arith [--quick] [--seeds S] [--steps N] [--sft-steps N] [--lr LR] [--out DIR]
                    [--device D] [--unpacked]
      engine inspect FILE [--json]
      engine train-lm --text FILE [--config tiny|small|gpt2] [--steps N] [--batch B] [--lr LR] [--seed S] [--out DIR]
                    [--eval-every N] [--checkpoint-every N] [--keep-checkpoints N] [--device D] [--resume | --force]
      engine eval --model DIR --tokens FILE.json [--json] [--device D]
      engine sample --model DIR (--prompt TEXT | --prompt-ids 1,2,3) --max-new-tokens N
                    [--greedy | --temperature T --top-k K --top-p P] [--seed S] [--json] [--device D]
      engine bench gemm --m M --n N --k K [--trans-a] [--trans-b] [--runs R] [--device D]
                    [--precision fp32|tf32|bf16]
      engine bench train --config tiny|small [--steps N] [--warmup N] [--batch B] [--device D]
      engine bench model --model DIR [--batch B] [--tokens T] [--runs R] [--device D]

    Any command takes --verbose, which adds the stack trace to an error. Exit codes: 0 success, 1 an error in the
    input or the environment, 2 a mistake on the command line, 70 an internal error (a bug: please report it).
    """;

// "-h" right after an option is that option's value (say, a prompt), not a request for help.
if (args.Length == 0 || args[0] == "help"
    || args.Where((a, i) => a == "--help" || (a == "-h" && (i == 0 || !args[i - 1].StartsWith("--", StringComparison.Ordinal)))).Any())
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}

bool verbose = args.Contains("--verbose");
args = [.. args.Where(a => a != "--verbose")];
if (args.Length == 0)
{
    Console.Error.WriteLine(usage);
    return 2;
}
try
{
    var rest = new Arguments(args.Skip(1));
    return args[0] switch
    {
        "grpo" => GrpoCommand.Run(rest),
        "inspect" => InspectCommand.Run(rest),
        "bench" => BenchCommand.Run(rest),
        "train-lm" => TrainLmCommand.Run(rest),
        "eval" => EvalCommand.Run(rest),
        "sample" => SampleCommand.Run(rest),
        _ => throw new UsageException($"unknown command '{args[0]}'"),
    };
}
catch (Exception e)
{
    return ErrorReport.Write(e, verbose, usage);
}
