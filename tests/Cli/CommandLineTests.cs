using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using Engine.Cli;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The command line as one definition: help for every command, --version, usage errors on stderr with exit code 2,
/// the `tokenize` contract, and `sample` saying when the model's context stopped it (they capture the console, so they run alone).
/// </summary>
[Collection(nameof(CliContractTests))]
public sealed class CommandLineTests : IDisposable
{
    static readonly GptConfig Micro = new(VocabSize: 9, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);
    static string BpeDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe");
    readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static (int Exit, string Output) Engine(params string[] args) => ChildProcess.Run("engine", args, [], timeoutSeconds: 120);

    /// <summary>Runs a command line in this process; returns its exit code, standard output and standard error.</summary>
    static (int Exit, string Out, string Error) InProcess(params string[] args)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            return (EngineCommandLine.Run(args), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }

    static IEnumerable<(string[] Path, Command Command)> Commands(Command command, string[] path) =>
        command.Subcommands.SelectMany(c => Commands(c, [.. path, c.Name])).Prepend((path, command));

    [Fact]
    public void EveryCommandHasHelpListingEveryOptionItTakes()
    {
        var all = Commands(EngineCommandLine.Definition, []).ToList();
        Assert.True(all.Count >= 14, $"{all.Count} commands");
        foreach (var (path, command) in all)
            foreach (var help in new[] { "--help", "-h" })
            {
                var (exit, stdout, stderr) = InProcess([.. path, help]);
                Assert.True(exit == 0, $"engine {string.Join(' ', path)} {help}: exit {exit}\n{stderr}");
                Assert.Contains("Usage:", stdout);
                Assert.Equal("", stderr);
                foreach (var option in command.Options) Assert.Contains(option.Name, stdout);
                foreach (var sub in command.Subcommands) Assert.Contains(sub.Name, stdout);
            }
    }

    [Fact]
    public void TrainLmHelpNamesEveryOptionAndExitsZero()
    {
        var (exit, output) = Engine("train-lm", "--help");
        Assert.Equal(0, exit);
        foreach (var option in new[] { "--text", "--batch", "--lr", "--seed", "--eval-every", "--checkpoint-every", "--keep-checkpoints" })
            Assert.Contains(option, output);
        Assert.DoesNotContain("needs --text", output);
        Assert.Equal(0, Engine("help", "bench", "gemm").Exit);
    }

    [Fact]
    public void VersionIsTheAssemblysInformationalVersion()
    {
        string expected = typeof(EngineCommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        var (exit, stdout, _) = InProcess("--version");
        Assert.Equal(0, exit);
        Assert.Equal(expected, stdout.Trim());
        Assert.Equal(2, InProcess("--version", "extra").Exit);
    }

    [Theory]
    [InlineData("eval --model M --tokens T --bogus", "unknown option --bogus", "usage: engine eval --model DIR --tokens FILE.json")]
    [InlineData("eval --model M --tokens T --json --json", "option --json given twice", "usage: engine eval")]
    [InlineData("train-lm --text T --steps 1 --steps 2", "option --steps given twice", "usage: engine train-lm --text FILE")]
    [InlineData("train-lm --text T --json", "unknown option --json", "[--checkpoint-every N]")]
    [InlineData("sample --model M --prompt-ids 1 --max-new-tokens 2 --greedy yes", "unexpected argument 'yes'", "usage: engine sample")]
    [InlineData("sample --model M --prompt-ids 1", "--max-new-tokens is required", "usage: engine sample")]
    [InlineData("bench", "engine bench needs a command: gemm, train, model", "usage: engine bench gemm|train|model")]
    [InlineData("grpo run --config C --resume --force", "give one of them", "usage: engine grpo run --config FILE.json")]
    [InlineData("grpo run --config C --steps 0", "--steps must be positive, got 0", "usage: engine grpo run --config FILE.json")]
    [InlineData("tokenize --model M", "exactly one of --text TEXT and --file FILE", "usage: engine tokenize --model DIR")]
    [InlineData("tokenize --model M --text a --file T", "exactly one of --text TEXT and --file FILE", "usage: engine tokenize")]
    [InlineData("inspect", "engine inspect needs FILE", "usage: engine inspect FILE [--json]")]
    public void AMistakeOnTheCommandLineIsOneLineOnStderrWithTheCommandsUsageAndExitCode2(string line, string message, string usage)
    {
        var args = line.Split(' ').Select(a => a switch { "M" => BpeDir, "T" or "C" => _dir.File("absent"), _ => a }).ToArray();
        var (exit, stdout, stderr) = InProcess(args);
        Assert.True(exit == 2, $"exit {exit}: {stdout}{stderr}");
        Assert.Equal("", stdout);
        var lines = stderr.TrimEnd().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("engine: ", lines[0]);
        Assert.Contains(message, lines[0]);
        Assert.Contains(usage, lines[1]);
    }

    [Fact]
    public void AnOptionsValueMayBeDashH()
    {
        string dir = _dir.File("model");
        using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, dir);
        new CharTokenizer(["-", "h", "@", "b", "c", "d", "e", "f", "g"]).Save(dir);
        foreach (var prompt in new[] { "-h", "@h" })
        {
            // "@h" is a prompt, not a response file named h; "-h" is this option's value, not a request for help.
            var (exit, stdout, stderr) = InProcess("sample", "--model", dir, "--prompt", prompt, "--max-new-tokens", "2", "--greedy", "--json");
            Assert.True(exit == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(2, doc.RootElement.GetProperty("ids").GetArrayLength());
        }
    }

    [Fact]
    public void TokenizeJsonIsExactlyOneObjectOfIds()
    {
        // tiny-bpe: "hello" merges to 15 (h e → he, l l → ll, he ll → hell, hell o → hello), " world" to 20 (Ġ w, o r, Ġw or, Ġwor l,
        // Ġworl d), "!" is 8, "\n" (Ċ) is 9 and "é" (bytes C3 A9, Ã ©) merges to 21.
        Assert.Equal(("{\"ids\":[15,20,8]}\n", ""), Output(InProcess("tokenize", "--model", BpeDir, "--text", "hello world!", "--json")));
        Assert.Equal(("15 20 8\n", ""), Output(InProcess("tokenize", "--model", BpeDir, "--text", "hello world!")));
        string file = _dir.File("text.txt");
        File.WriteAllText(file, "hello world!\né");
        Assert.Equal(("{\"ids\":[15,20,8,9,21]}\n", ""), Output(InProcess("tokenize", "--model", BpeDir, "--file", file, "--json")));
        Assert.Equal(("{\"ids\":[]}\n", ""), Output(InProcess("tokenize", "--model", BpeDir, "--text", "", "--json")));
        Assert.Equal([15, 20, 8, 9, 21], Tokenizer.Load(BpeDir)!.Encode("hello world!\né"));
    }

    static (string Out, string Error) Output((int Exit, string Out, string Error) result)
    {
        Assert.True(result.Exit == 0, result.Error);
        return (result.Out.ReplaceLineEndings("\n"), result.Error);
    }

    [Fact]
    public void TokenizeReadsOnlyTheTokenizerNeverTheWeights()
    {
        string dir = _dir.File("broken-model");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.EnumerateFiles(BpeDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(dir, "config.json"), "not json");
        File.WriteAllText(Path.Combine(dir, "model.safetensors"), "not weights");
        Assert.Equal(("{\"ids\":[15]}\n", ""), Output(InProcess("tokenize", "--model", dir, "--text", "hello", "--json")));
    }

    [Fact]
    public void TokenizeRefusesAMissingDirectoryADirectoryWithoutATokenizerAndAFileThatIsNotUtf8()
    {
        string empty = _dir.File("empty");
        Directory.CreateDirectory(empty);
        string latin1 = _dir.File("latin1.txt");
        File.WriteAllBytes(latin1, [0x68, 0xE9, 0x21]);
        string loop = _dir.File("loop");
        File.CreateSymbolicLink(loop, _dir.File("loop-back"));
        File.CreateSymbolicLink(_dir.File("loop-back"), loop);
        foreach (var (args, message) in new (string[], string)[]
            {
                (["--model", _dir.File("missing"), "--text", "a"], "--model '" + _dir.File("missing") + "' not found"),
                (["--model", Path.Combine(BpeDir, "vocab.json"), "--text", "a"], "is a file"),
                (["--model", empty, "--text", "a"], "has no tokenizer"),
                (["--model", loop, "--text", "a"], "--model '" + loop + "' is a symbolic link that loops"),
                (["--model", BpeDir, "--file", latin1], "is not valid UTF-8"),
                (["--model", BpeDir, "--file", _dir.File("absent.txt")], "not found"),
                (["--model", BpeDir, "--file", empty], "is a directory"),
            })
        {
            var (exit, stdout, stderr) = InProcess(["tokenize", .. args]);
            Assert.True(exit == 1, $"{string.Join(' ', args)}: exit {exit}\n{stderr}");
            Assert.Equal("", stdout);
            Assert.Single(stderr.TrimEnd().Split('\n'));
            Assert.Contains(message, stderr);
        }
    }

    [Theory]
    [InlineData("bench gemm --m 2 --n 2 --k 2 --device bogus", "--device must be cpu, cuda or ilgpu-cpu, got 'bogus'")]
    [InlineData("eval --model M --tokens T --device", "--device needs a value")]
    [InlineData("tokenize --model M --file", "--file needs a value")]
    [InlineData("help bogus", "unknown command 'bogus'")]
    [InlineData("bogus --help", "unknown command 'bogus'")]
    [InlineData("tokenize --bogus --help", "unknown option --bogus")]
    public void MistakesOnTheCommandLineExitTwoEvenBesideHelp(string line, string message)
    {
        var (exit, stdout, stderr) = InProcess(line.Split(' '));
        Assert.True(exit == 2, $"{line}: exit {exit}\n{stderr}");
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void AnEmptyPathIsAUsageErrorNamingItsOption()
    {
        foreach (var (args, option) in new (string[], string)[]
            {
                (["tokenize", "--model", "", "--text", "a"], "--model"), (["tokenize", "--model", BpeDir, "--file", ""], "--file"),
                (["train-lm", "--text", "", "--steps", "1"], "--text"), (["train-lm", "--text", "x", "--out", " "], "--out"),
            })
        {
            var (exit, _, stderr) = InProcess(args);
            Assert.True(exit == 2, $"{string.Join(' ', args)}: exit {exit}\n{stderr}");
            Assert.Contains($"{option} is empty; give a path", stderr);
        }
    }

    [Fact]
    public void VerboseGivenAsAPromptIsAPromptNotTheSwitch()
    {
        // A --model that does not exist fails: with --verbose as the switch the stack trace would follow the one line.
        var (exit, _, stderr) = InProcess("sample", "--model", _dir.File("missing"), "--prompt", "--verbose", "--max-new-tokens", "1");
        Assert.Equal(1, exit);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        (exit, _, stderr) = InProcess("sample", "--model", _dir.File("missing"), "--prompt", "x", "--max-new-tokens", "1", "--verbose");
        Assert.Equal(1, exit);
        Assert.True(stderr.TrimEnd().Split('\n').Length > 1, "--verbose as the switch adds the stack trace");
    }

    [Fact]
    public void SampleRefusesPromptIdsItsTokenizerCannotDecodeBeforeGenerating()
    {
        // The fixture model has 50 ids and the tokenizer beside it 23: id 45 is the model's but not the tokenizer's.
        string dir = _dir.File("padded");
        Directory.CreateDirectory(dir);
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-gpt2", f), Path.Combine(dir, f));
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-bpe-hf", "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        var (exit, stdout, stderr) = InProcess("sample", "--model", dir, "--prompt-ids", "3,45", "--max-new-tokens", "2");
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Equal("engine: sample: --prompt-ids holds 45, outside the tokenizer's vocabulary of 23 (the model's has 50)", stderr.TrimEnd());
        (exit, _, stderr) = InProcess("sample", "--model", dir, "--prompt-ids", "1,,2", "--max-new-tokens", "2");
        Assert.Equal(2, exit);
        Assert.Contains("--prompt-ids: '' is not an integer", stderr);
    }

    [Fact]
    public void AMalformedTokenizerJsonIsNamedAsOneAndAWordPieceFileForItsType()
    {
        string dir = _dir.File("tok");
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(file, "{");
        var (exit, _, stderr) = InProcess("tokenize", "--model", dir, "--text", "a");
        Assert.Equal(1, exit);
        Assert.StartsWith($"engine: tokenizer {file}: not valid JSON", stderr);
        File.WriteAllText(file, """{"model": {"type": "WordPiece", "vocab": {}}}""");
        (exit, _, stderr) = InProcess("tokenize", "--model", dir, "--text", "a");
        Assert.Equal(1, exit);
        Assert.Contains("'model.type' is \"WordPiece\"; only byte-level \"BPE\"", stderr);
    }

    [Fact]
    public void SampleSaysWhenTheModelsContextStoppedIt()
    {
        string dir = _dir.File("model");
        using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, dir);
        // Context 8, a prompt of 3: 6 new tokens, the last predicted from the full context of 3 + 5.
        var (exit, stdout, stderr) = InProcess("sample", "--model", dir, "--prompt-ids", "1,2,3", "--max-new-tokens", "20", "--greedy", "--json");
        Assert.True(exit == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["ids", "stopped"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(6, doc.RootElement.GetProperty("ids").GetArrayLength());
        Assert.Equal("context_limit", doc.RootElement.GetProperty("stopped").GetString());
        Assert.Contains("stopped after 6 of the 20 new tokens asked for", stderr);
        Assert.Contains("context of 8", stderr);

        (exit, stdout, stderr) = InProcess("sample", "--model", dir, "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--greedy", "--json");
        Assert.True(exit == 0, stderr);
        Assert.Equal("", stderr);
        using var fits = JsonDocument.Parse(stdout);
        Assert.Equal(["ids"], fits.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
    }

    [Fact]
    public void GrpoRunPrintsItsLinesAndDrawsThePlotsFromTheLibrarysCsv()
    {
        string config = GrpoRunTests.Setup(_dir), run = _dir.File("grpo-run");
        var (exit, stdout, stderr) = InProcess("grpo", "run", "--config", config, "--out", run);
        Assert.True(exit == 0, stderr);
        var lines = stdout.TrimEnd().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("grpo run: GRPO on ", lines[0]);
        Assert.Contains("groups of 4, 4 steps; rewards: ", lines[0]);
        Assert.StartsWith("step 4: reward ", lines[1]);
        Assert.Contains(", eval reward ", lines[1]);
        Assert.Equal($"wrote {run}/: model/, checkpoints/, metrics.jsonl, metrics.csv, reward.svg, kl.svg, tree.svg, eval.svg", lines[2]);
        Assert.Contains("grpo      4/4 [########################]", stderr);
        foreach (var svg in new[] { "reward.svg", "kl.svg", "tree.svg", "eval.svg" })
            Assert.Contains("<polyline", File.ReadAllText(Path.Combine(run, svg)));

        (exit, stdout, stderr) = InProcess("grpo", "run", "--config", config, "--out", run, "--steps", "5", "--resume");
        Assert.True(exit == 0, stderr);
        Assert.StartsWith($"resuming {run} at step 4 of 5", stdout);

        // No step is left to draw them with: the plots are drawn at the end.
        foreach (var svg in new[] { "reward.svg", "kl.svg", "tree.svg", "eval.svg" }) File.Delete(Path.Combine(run, svg));
        (exit, _, stderr) = InProcess("grpo", "run", "--config", config, "--out", run, "--steps", "5", "--resume");
        Assert.True(exit == 0, stderr);
        foreach (var svg in new[] { "reward.svg", "kl.svg", "tree.svg", "eval.svg" })
            Assert.Contains("<polyline", File.ReadAllText(Path.Combine(run, svg)));
    }

    [Fact]
    public void AGrpoPromptsFileThatIsNotUtf8IsOneLineNamingTheFileAndTheByte()
    {
        string config = GrpoRunTests.Setup(_dir), prompts = _dir.File("prompts.jsonl"), run = _dir.File("grpo-run");
        byte[] good = File.ReadAllBytes(prompts);
        // In the second record's answer, which a lenient read would turn into U+FFFD and let through.
        int offset = good.AsSpan().IndexOf("\"answer\":\""u8) + 10;
        offset += good.AsSpan(offset).IndexOf("\"answer\":\""u8) + 10;
        File.WriteAllBytes(prompts, [.. good[..offset], 0xFF, .. good[offset..]]);
        var (exit, stdout, stderr) = InProcess("grpo", "run", "--config", config, "--out", run);
        Assert.True(exit == 1, $"exit {exit}: {stdout}{stderr}");
        Assert.Equal("", stdout);
        Assert.Equal($"engine: prompts file '{prompts}' is not valid UTF-8 text (an invalid sequence at byte {offset})", stderr.TrimEnd());
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void TrainLmPrintsItsLinesAndDrawsTheLossFromTheLibrarysCsv()
    {
        string text = _dir.File("text.txt"), run = _dir.File("lm-run");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        var (exit, stdout, stderr) = InProcess("train-lm", "--text", text, "--out", run, "--steps", "2", "--batch", "2");
        Assert.True(exit == 0, stderr);
        var lines = stdout.TrimEnd().Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("gpt 4 layers, width 128, 4 heads, vocab 11, context 64: ", lines[0]);
        Assert.Equal("2,400 tokens (2,160 train), batch 2, 2 steps, lr 0.001", lines[1]);
        Assert.StartsWith("step 2: train loss ", lines[2]);
        Assert.Equal($"wrote {run}/: model/ (config.json, model.safetensors, char-tokenizer.json), checkpoints/, loss.csv, loss.svg", lines[3]);
        Assert.Contains("train      2/2 [########################] loss ", stderr);
        Assert.Contains("<polyline", File.ReadAllText(Path.Combine(run, "loss.svg")));

        // No step is left to draw it with: the plot is drawn at the end.
        File.Delete(Path.Combine(run, "loss.svg"));
        (exit, _, stderr) = InProcess("train-lm", "--text", text, "--out", run, "--resume");
        Assert.True(exit == 0, stderr);
        Assert.Contains("<polyline", File.ReadAllText(Path.Combine(run, "loss.svg")));
    }
}
