using System.CommandLine;
using System.Text.Json;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine tokenize --model DIR (--text TEXT | --file FILE) [--json]</c>: the token ids of a text under the tokenizer in
/// a model directory. Only the tokenizer's files are read, never the weights.
/// </summary>
static class TokenizeCommand
{
    static readonly Option<string?> ModelDir = CliOptions.Path("model",
        $"a directory with a tokenizer ({Tokenizer.ExpectedFiles}), or a run holding one in model/", "DIR", required: true);
    static readonly Option<string?> Text = CliOptions.Text("text", "the text to encode (give --text or --file)", "TEXT");
    static readonly Option<string?> TextFile = CliOptions.Path("file", "a UTF-8 file whose whole content is encoded", "FILE");
    static readonly Option<bool> Json = CliOptions.Flag("json", "print one JSON object, {\"ids\":[…]}");

    public static Command Build()
    {
        var command = new Command("tokenize", "the token ids of a text under a model directory's tokenizer") { ModelDir, Text, TextFile, Json };
        command.Validators.Add(r =>
        {
            if ((r.GetResult(Text) is null) == (r.GetResult(TextFile) is null))
                r.AddError("tokenize needs exactly one of --text TEXT and --file FILE");
        });
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult args)
    {
        string given = args.GetValue(ModelDir)!;
        if (!Directory.Exists(given))
            throw new DirectoryNotFoundException(InputFile.DescribeNonDirectory(given) is { } what
                ? $"tokenize: --model '{given}' {what}; give the directory that holds the tokenizer" : $"tokenize: --model '{given}' not found");
        string dir = Gpt2Checkpoint.ResolveDirectory(given);
        var tokenizer = Tokenizer.Load(dir) ?? throw new ArgumentException($"tokenize: {dir} has no tokenizer (expected {Tokenizer.ExpectedFiles})");
        string text = args.GetValue(Text) ?? InputFile.ReadAllText(args.GetValue(TextFile)!, "tokenize: --file");
        int[] ids = tokenizer.Encode(text);
        Console.WriteLine(args.GetValue(Json) ? JsonSerializer.Serialize(new Dictionary<string, int[]> { ["ids"] = ids }) : string.Join(' ', ids));
        return 0;
    }
}
