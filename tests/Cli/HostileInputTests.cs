using System.Diagnostics;
using Engine.Cli;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// `engine` run as a careless or hostile user would: every bad input ends in one line naming the option, file or
/// field, exit code 1 (2 for the command line), no stack trace, no hang, and no file changed.
/// </summary>
[Collection(nameof(CliContractTests))]
public sealed class HostileInputTests : IClassFixture<HostileInputTests.Files>
{
    static readonly GptConfig Micro = new(VocabSize: 9, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);

    /// <summary>A model directory with a tokenizer, a text, a token file and groups, shared by the cases.</summary>
    public sealed class Files : IDisposable
    {
        public Files()
        {
            using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, Model);
            new CharTokenizer(["a", "b", "c", "d", "e", "f", "g", "h", " "]).Save(Model);
            File.WriteAllText(Text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 200)));
            File.WriteAllText(Tokens, "[[1,2,3,4],[2,3,4,5]]");
        }

        public TempDirectory Dir { get; } = new();
        public string Model => Dir.File("model");
        public string Text => Dir.File("text.txt");
        public string Tokens => Dir.File("tokens.json");

        /// <summary>A copy of the model directory with <paramref name="change"/> applied.</summary>
        public string Variant(string name, Action<string> change)
        {
            string dir = Dir.File(name);
            Directory.CreateDirectory(dir);
            foreach (var f in Directory.EnumerateFiles(Model)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), overwrite: true);
            change(dir);
            return dir;
        }

        public void Dispose() => Dir.Dispose();
    }

    readonly Files _files;

    public HostileInputTests(Files files) => _files = files;

    static (int Exit, string Output) Engine(params string[] args) => ChildProcess.Run("engine", args, [], timeoutSeconds: 120);

    static void AssertRefused((int Exit, string Output) result, int exit, params string[] fragments)
    {
        Assert.True(result.Exit == exit, $"exit {result.Exit}, expected {exit}:\n{result.Output}");
        Assert.DoesNotContain("   at ", result.Output);
        Assert.DoesNotContain("Unhandled exception", result.Output);
        foreach (var f in fragments) Assert.Contains(f, result.Output);
    }

    static void EditConfig(string dir, string key, string value)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        json[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
    }

    [Theory]
    [InlineData("grpo tree --n 0", "--n must be 1, 2 or 3")]
    [InlineData("grpo tree --r-neg NaN", "--r-neg must be a finite number")]
    [InlineData("grpo tree --lr NaN", "--lr must be a finite number")]
    [InlineData("grpo tree --lr 0", "--lr must be positive")]
    [InlineData("grpo tree --seeds 99999999999", "--seeds must be an integer")]
    [InlineData("grpo arith --lr -1", "--lr must be positive")]
    [InlineData("train-lm --text T --lr Infinity", "--lr must be a finite number")]
    [InlineData("train-lm --text T --checkpoint-every 0", "--checkpoint-every must be positive")]
    [InlineData("train-lm --text T --keep-checkpoints 0", "--keep-checkpoints must be positive")]
    [InlineData("train-lm --text T --resume --force", "give one of them")]
    [InlineData("sample --model M --prompt abc --max-new-tokens 3 --temperature -1", "--temperature must be ≥ 0")]
    [InlineData("bench gemm --m 100000 --n 100000 --k 100000", "too large for one tensor")]
    [InlineData("frobnicate", "unknown command")]
    public void BadNumbersAndOptionsAreUsageErrors(string command, string message)
    {
        var args = command.Split(' ').Select(a => a == "T" ? _files.Text : a == "M" ? _files.Model : a).ToArray();
        AssertRefused(Engine(args), 2, message);
    }

    [Fact]
    public void SizesThatCannotFitInMemoryAreRefusedBeforeAllocatingWithBothNumbers()
    {
        string run = _files.Dir.File("huge-batch");
        AssertRefused(Engine("train-lm", "--text", _files.Text, "--batch", "2147483647", "--out", run), 1,
            "batch 2147483647", "needs", "only", "available");
        AssertRefused(Engine("train-lm", "--text", _files.Text, "--config", "gpt2", "--batch", "3000", "--out", run), 1, "needs", "TB");
        Assert.False(Directory.Exists(run));
        AssertRefused(Engine("bench", "train", "--config", "small", "--batch", "1000000"), 1, "bench train", "available");
    }

    [Theory]
    [InlineData("n_head", "0", "n_head 0")]
    [InlineData("n_head", "3", "not divisible by n_head 3")]
    [InlineData("n_layer", "1000000000", "n_layer 1000000000")]
    [InlineData("n_embd", "16384", "expected [9, 16384]")]
    [InlineData("vocab_size", "-1", "vocab_size -1")]
    [InlineData("n_positions", "\"eight\"", "'n_positions' is not a 32-bit integer")]
    [InlineData("layer_norm_epsilon", "1e300", "within float32's range")]
    [InlineData("layer_norm_epsilon", "0", "must be positive")]
    public void AConfigThatCannotDescribeTheWeightsIsRefusedNamingTheField(string key, string value, string message)
    {
        string dir = _files.Variant($"config-{key}-{value.GetHashCode():x}", d => EditConfig(d, key, value));
        AssertRefused(Engine("eval", "--model", dir, "--tokens", _files.Tokens), 1, "config.json", message);
        AssertRefused(Engine("sample", "--model", dir, "--prompt", "abc", "--max-new-tokens", "2"), 1, message);
    }

    [Fact]
    public void WeightsThatAreNotFiniteAreRefusedNamingTheTensor()
    {
        string dir = _files.Variant("nan-weights", d =>
        {
            using var model = Gpt2Checkpoint.Load(d);
            var values = model["h.0.mlp.c_fc.weight"].Value.ToArray();
            values[5] = float.NaN;
            model["h.0.mlp.c_fc.weight"].Value.CopyFrom(values);
            Gpt2Checkpoint.Save(model, d);
        });
        AssertRefused(Engine("eval", "--model", dir, "--tokens", _files.Tokens, "--json"), 1, "h.0.mlp.c_fc.weight", "NaN at element 5");
    }

    [Fact]
    public void EvalNeverPrintsNaNWithExitZero()
    {
        // Finite weights whose activations overflow: the loss is not finite, and that is an error, in text and in JSON.
        string dir = _files.Variant("overflowing", d =>
        {
            using var model = Gpt2Checkpoint.Load(d);
            model["wte.weight"].Value.CopyFrom(Enumerable.Repeat(3e38f, model["wte.weight"].Value.Numel).ToArray());
            Gpt2Checkpoint.Save(model, d);
        });
        foreach (var json in new[] { false, true })
        {
            var result = Engine(json
                ? ["eval", "--model", dir, "--tokens", _files.Tokens, "--json"] : ["eval", "--model", dir, "--tokens", _files.Tokens]);
            AssertRefused(result, 1, "not finite");
            Assert.DoesNotContain("\"loss\"", result.Output);
        }
    }

    [Fact]
    public void InputsThatAreNotRegularFilesAreRefusedInsteadOfHanging()
    {
        string weightsDir = _files.Variant("weights-dir", d =>
        {
            File.Delete(Path.Combine(d, "model.safetensors"));
            Directory.CreateDirectory(Path.Combine(d, "model.safetensors"));
        });
        AssertRefused(Engine("eval", "--model", weightsDir, "--tokens", _files.Tokens), 1, "model.safetensors", "is a directory");
        AssertRefused(Engine("inspect", _files.Dir.Path), 1, "is a directory");
        AssertRefused(Engine("eval", "--model", _files.Dir.File("missing"), "--tokens", _files.Tokens), 1, "missing", "not found");
        if (OperatingSystem.IsWindows()) return;
        string fifo = _files.Dir.File("fifo");
        if (!File.Exists(fifo))
            using (var make = Process.Start("mkfifo", [fifo])) make.WaitForExit();
        AssertRefused(Engine("inspect", fifo), 1, "not a regular file");
        AssertRefused(Engine("eval", "--model", _files.Model, "--tokens", fifo), 1, "not a regular file");
        AssertRefused(Engine("train-lm", "--text", fifo, "--out", _files.Dir.File("fifo-run")), 1, "not a regular file");
        Assert.False(Directory.Exists(_files.Dir.File("fifo-run")));
    }

    [Fact]
    public void InspectTakesAHundredThousandTokenCompletionAndRefusesRewardsBeyondFloat32()
    {
        string deep = _files.Dir.File("deep.json");
        var longOne = string.Join(",", Enumerable.Range(1, 100_000));
        var sharing = string.Join(",", Enumerable.Range(1, 50_000)) + ",7";
        File.WriteAllText(deep, $$"""{"groups": [{"prompt": [0], "completions": [[{{longOne}}], [{{sharing}}]], "rewards": [1, 0]}]}""");
        var result = Engine("inspect", deep, "--json");
        Assert.True(result.Exit == 0, result.Output);
        Assert.Contains("\"steps\":3", result.Output);
        string big = _files.Dir.File("big-reward.json");
        File.WriteAllText(big, """{"groups": [{"prompt": [0], "completions": [[1], [2]], "rewards": [1e39, 0]}]}""");
        AssertRefused(Engine("inspect", big), 1, "groups[0].rewards[0]", "beyond float32's range");
    }

    [Fact]
    public void ATrainingRunThatDivergesStopsWithoutWritingANonFiniteCheckpoint()
    {
        string run = _files.Dir.File("diverging");
        var result = Engine("train-lm", "--text", _files.Text, "--lr", "1e30", "--steps", "4", "--batch", "2", "--checkpoint-every", "1",
            "--out", run);
        AssertRefused(result, 1, "training diverged at step 2", "no checkpoint of this step");
        var store = new CheckpointStore(run);
        Assert.Equal([1], store.Sets.Select(s => s.Step).ToArray());
        Assert.All(SafeTensors.ReadAllFloats(store.Latest()!.File("model.safetensors")).Values,
            v => Assert.All(v, x => Assert.True(float.IsFinite(x))));
        Assert.False(Directory.Exists(Path.Combine(run, "model")));
    }

    [Fact]
    public void VerboseAloneIsAUsageError() => AssertRefused(Engine("--verbose"), 2, "usage:");

    [Fact]
    public void ATokenizerLargerThanTheModelsVocabularyIsRefused()
    {
        string dir = _files.Variant("big-tokenizer",
            d => new CharTokenizer([.. Enumerable.Range(0, 20).Select(i => ((char)('a' + i)).ToString())]).Save(d));
        AssertRefused(Engine("sample", "--model", dir, "--prompt", "abc", "--max-new-tokens", "2"), 1, "20 tokens", "vocab_size 9");
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var result = Engine("eval", "--model", _files.Dir.File("missing"), "--tokens", _files.Tokens, "--verbose");
        Assert.Equal(1, result.Exit);
        Assert.Contains("   at ", result.Output);
    }

    [Fact]
    public void AnUnexpectedErrorIsOneLineWithExitCode70()
    {
        var old = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            var bug = new AggregateException(new KeyNotFoundException("key 'x' was not present"));
            Assert.Equal(70, ErrorReport.Write(bug, verbose: false, usage: "usage"));
            Assert.Equal(1, ErrorReport.Write(new AggregateException(new UnauthorizedAccessException("Access to the path '/x' is denied.")),
                false, "usage"));
        }
        finally
        {
            Console.SetError(old);
        }
        var lines = captured.ToString().TrimEnd().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal("engine: internal error (KeyNotFoundException): key 'x' was not present " +
            "(run again with --verbose for the stack trace)", lines[0].TrimEnd());
        Assert.Equal("engine: Access to the path '/x' is denied.", lines[1].TrimEnd());
    }
}
