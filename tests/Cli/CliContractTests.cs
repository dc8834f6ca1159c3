using System.Text.Json;
using Engine.Cli;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Model.Training;

namespace Engine.Tests;

/// <summary>The exact command-line contracts of `engine eval` and `engine sample` (they capture the console, so they run alone).</summary>
[CollectionDefinition(nameof(CliContractTests), DisableParallelization = true)]
[Collection(nameof(CliContractTests))]
public sealed class CliContractTests : IDisposable
{
    static readonly GptConfig Micro = new(VocabSize: 9, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);
    readonly string _dir = Directory.CreateTempSubdirectory("engine-cli").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A command line: the command's words, then its arguments.</summary>
    static string[] Line(string command, IEnumerable<string> args) => [command, .. args];

    static string Capture(Func<int> run)
    {
        var old = Console.Out;
        var w = new StringWriter();
        Console.SetOut(w);
        try
        {
            Assert.Equal(0, run());
        }
        finally
        {
            Console.SetOut(old);
        }
        return w.ToString();
    }

    [Fact]
    public void EvalJsonIsExactlyOneObjectWithLossAndPredictions()
    {
        using (var model = new Gpt(Micro, seed: 2)) Gpt2Checkpoint.Save(model, _dir);
        string tokens = Path.Combine(_dir, "tokens.json");
        File.WriteAllText(tokens, "[[1,2,3,4],[5,6,7,8],[0,1,0,1]]");
        string stdout = Capture(() => EngineCommandLine.Execute(Line("eval", ["--model", _dir, "--tokens", tokens, "--json"])));
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["loss", "predictions"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(9, doc.RootElement.GetProperty("predictions").GetInt32());
        // the same number from the library: Σ of per-position losses / 9
        using var model2 = Gpt2Checkpoint.Load(_dir);
        using var scope = TensorScope.Open();
        var x = Engine.Tensor.FromInts([1, 2, 3, 5, 6, 7, 0, 1, 0], new Shape(3, 3));
        var y = Engine.Tensor.FromInts([2, 3, 4, 6, 7, 8, 1, 0, 1], new Shape(3, 3));
        float expected = Gpt.Loss(model2.Forward(x), y).Value.ToScalar();
        Assert.Equal(expected, doc.RootElement.GetProperty("loss").GetDouble(), 5);
    }

    [Fact]
    public void EvalRejectsRaggedRowsNamingTheProblem()
    {
        using (var model = new Gpt(Micro, seed: 2)) Gpt2Checkpoint.Save(model, _dir);
        string tokens = Path.Combine(_dir, "tokens.json");
        File.WriteAllText(tokens, "[[1,2,3],[5,6]]");
        var e = Assert.Throws<ArgumentException>(() => EngineCommandLine.Execute(Line("eval", ["--model", _dir, "--tokens", tokens, "--json"])));
        Assert.Contains("same length", e.Message);
    }

    [Fact]
    public void EvalReadsIdsAsInspectAndGrpoRunDo()
    {
        using (var model = new Gpt(Micro, seed: 2)) Gpt2Checkpoint.Save(model, _dir);
        string tokens = Path.Combine(_dir, "tokens.json");
        File.WriteAllText(tokens, "[[1,2,3,4]]");
        string plain = Capture(() => EngineCommandLine.Execute(Line("eval", ["--model", _dir, "--tokens", tokens, "--json"])));
        File.WriteAllText(tokens, "[[1,2.0,3,4e0]]");
        Assert.Equal(plain, Capture(() => EngineCommandLine.Execute(Line("eval", ["--model", _dir, "--tokens", tokens, "--json"]))));
        File.WriteAllText(tokens, "[[1,2.5,3,4]]");
        var e = Assert.Throws<ArgumentException>(() => EngineCommandLine.Execute(Line("eval", ["--model", _dir, "--tokens", tokens, "--json"])));
        Assert.Contains("not an integer token id: 2.5", e.Message);
    }

    [Fact]
    public void SampleJsonHasIdsAndTextWhenATokenizerIsPresent()
    {
        using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, _dir);
        new CharTokenizer(["a", "b", "c", "d", "e", "f", "g", "h", "i"]).Save(_dir);
        string stdout = Capture(() => EngineCommandLine.Execute(
            Line("sample", ["--model", _dir, "--prompt", "abc", "--max-new-tokens", "4", "--greedy", "--json"])));
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["ids", "text"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(4, ids.Length);
        Assert.Equal(Tokenizer.Load(_dir)!.Decode(ids), doc.RootElement.GetProperty("text").GetString());
        using var model2 = Gpt2Checkpoint.Load(_dir);
        Assert.Equal(Generation.Generate(model2, [[0, 1, 2]], new GenerationOptions(4, SamplingOptions.ArgMax))[0], ids);
    }

    [Fact]
    public void SampleJsonWithoutATokenizerHasOnlyIds()
    {
        using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, _dir);
        string stdout = Capture(() => EngineCommandLine.Execute(Line("sample", ["--model", _dir, "--prompt-ids", "1,2,3", "--max-new-tokens", "3",
            "--temperature", "0.7", "--top-k", "3", "--top-p", "0.9", "--seed", "5", "--json"])));
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["ids"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(3, doc.RootElement.GetProperty("ids").GetArrayLength());
    }

    [Fact]
    public void ACheckpointOnDiskResumesTrainingBitForBit()
    {
        int[] stream = Enumerable.Range(0, 200).Select(i => i * 5 % 9).ToArray();
        var options = new LmTrainOptions(Steps: 6, BatchSize: 2, LearningRate: 1e-2f, WarmupSteps: 2, EvalEvery: 0, EvalBatches: 1);
        float[][] straight;
        using (var model = new Gpt(Micro, seed: 1))
        using (var t = new LmTrainer(model, stream, stream, options))
        {
            t.Run();
            straight = model.Parameters.Values.Select(p => p.Value.ToArray()).ToArray();
        }
        long position;
        using (var model = new Gpt(Micro, seed: 1))
        using (var t = new LmTrainer(model, stream, stream, options))
        {
            t.Run(untilStep: 3);
            Gpt2Checkpoint.Save(model, _dir);
            Gpt2Checkpoint.SaveOptimizer(t.Optimizer, _dir);
            position = t.Data.Position;
        }
        using var resumed = Gpt2Checkpoint.Load(_dir);
        using var t2 = new LmTrainer(resumed, stream, stream, options) { Step = 3 };
        Gpt2Checkpoint.LoadOptimizer(t2.Optimizer, _dir);
        t2.Data.Position = position;
        t2.Run();
        Assert.Equal(straight, resumed.Parameters.Values.Select(p => p.Value.ToArray()).ToArray());
    }

    [Fact]
    public void InspectJsonFollowsTheContract()
    {
        // docs/science.md §3: the example with letters as ids: AB·CD, AB·EFHI, JKL·M, JKL·NQ·ST, JKL·NQ·U, VWYZ.
        string file = Path.Combine(_dir, "groups.json");
        File.WriteAllText(file, """
            {"groups": [{"prompt": [0], "completions": [[1,2,3,4],[1,2,5,6,7,8],[9,10,11,12],[9,10,11,13,14,15,16],[9,10,11,13,14,17],[18,19,20,21]],
                         "rewards": [0.5,0.5,1,0,0,0.5]},
                        {"prompt": [7], "completions": [[1],[1]], "rewards": [1,1]}],
             "std_epsilon": 0}
            """);
        using var doc = JsonDocument.Parse(Capture(() => EngineCommandLine.Execute(Line("inspect", [file, "--json"]))));
        var groups = doc.RootElement.GetProperty("groups");
        Assert.Equal(2, groups.GetArrayLength());
        var g = groups[0];
        Assert.Equal(["advantages", "completions", "steps", "path_depth_mean", "intermediate_proportion_mean"],
            g.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(9, g.GetProperty("steps").GetInt32());
        Assert.Equal(1.55, g.GetProperty("advantages")[2].GetDouble(), 2);
        var c3 = g.GetProperty("completions")[3];
        Assert.Equal(["lambda", "prm_reward", "prm_advantage"], c3.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal([3, 3, 3, 2, 2, 1, 1], c3.GetProperty("lambda").EnumerateArray().Select(v => v.GetInt32()).ToArray());
        Assert.Equal(-1.11, c3.GetProperty("prm_advantage")[3].GetDouble(), 2);
        Assert.Equal(1 / 3.0, c3.GetProperty("prm_reward")[0].GetDouble(), 6);
        Assert.Equal(13 / 6.0, g.GetProperty("path_depth_mean").GetDouble(), 10);
        // equal rewards: every advantage is 0; duplicates: |λ| = 2
        Assert.All(groups[1].GetProperty("advantages").EnumerateArray(), a => Assert.Equal(0, a.GetDouble()));
        Assert.Equal(2, groups[1].GetProperty("completions")[0].GetProperty("lambda")[0].GetInt32());
    }

    [Fact]
    public void InspectTextShowsTheTreeWithLambda()
    {
        string file = Path.Combine(_dir, "groups.json");
        File.WriteAllText(file, """{"groups": [{"prompt": [0], "completions": [[1,2],[1,3]], "rewards": [1, 0]}]}""");
        string text = Capture(() => EngineCommandLine.Execute(Line("inspect", [file])));
        Assert.Contains("|λ|=2", text);
        Assert.Contains("[1]", text);
    }

    [Theory]
    [InlineData("""{"group": []}""", "groups")]
    [InlineData("""{"groups": [{"prompt": [0], "completions": [[1],[2]], "rewards": [1]}]}""", "groups[0].rewards has 1 values for 2 completions")]
    [InlineData("""{"groups": [{"prompt": [0], "completions": [[1],[2, "x"]], "rewards": [1, 2]}]}""", "groups[0].completions[1][1]")]
    [InlineData("""{"groups": [{"prompt": [-3], "completions": [[1]], "rewards": [1]}]}""", "groups[0].prompt[0]")]
    [InlineData("""{"groups": [{"prompt": [0], "completions": [[1]], "rewards": ["a"]}]}""", "groups[0].rewards[0]")]
    [InlineData("""{"groups": [], "scale_rewards": 3}""", "scale_rewards")]
    public void InspectNamesTheMalformedField(string json, string expected)
    {
        string file = Path.Combine(_dir, "bad.json");
        File.WriteAllText(file, json);
        var e = Assert.Throws<ArgumentException>(() => EngineCommandLine.Execute(Line("inspect", [file, "--json"])));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void BenchGemmEndsWithGflopsAndRefusesPrecisionsTheDeviceCannotRun()
    {
        string stdout = Capture(() => EngineCommandLine.Execute(
            Line("bench", ["gemm", "--m", "48", "--n", "40", "--k", "32", "--runs", "3", "--precision", "fp32"])));
        string last = stdout.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("gflops=", last);
        Assert.True(double.Parse(last["gflops=".Length..], System.Globalization.CultureInfo.InvariantCulture) > 0, last);
        var e = Assert.Throws<NotSupportedException>(() => EngineCommandLine.Execute(Line("bench", ["gemm", "--precision", "tf32"])));
        Assert.Contains("cpu", e.Message);
        Assert.Equal(GemmPrecision.Float32, Device.Cpu.MatmulPrecision);
        var u = Assert.Throws<UsageException>(() => EngineCommandLine.Execute(Line("bench", ["gemm", "--precision", "fp16"])));
        Assert.Contains("fp32, tf32 or bf16", u.Message);
    }

    [Fact]
    public void BenchTrainEndsWithTheMedianTokensPerSecond()
    {
        string[] args = ["train", "--config", "tiny", "--steps", "3", "--warmup", "1", "--batch", "2"];
        string stdout = Capture(() => EngineCommandLine.Execute(Line("bench", args)));
        var lines = stdout.TrimEnd().Split('\n');
        Assert.Contains("tiny: vocab 64, width 128, 4 layers, 4 heads, context 64, batch 2", lines[0]);
        Assert.Equal(1 + 1 + 3 + 1, lines.Length);
        Assert.StartsWith("tokens_per_s=", lines[^1]);
        Assert.True(double.Parse(lines[^1]["tokens_per_s=".Length..], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Theory]
    [InlineData("--config", "huge", "--config must be tiny or small")]
    [InlineData("--steps", "0", "--batch and --steps must be positive")]
    public void BenchTrainRejectsBadArguments(string flag, string value, string message)
    {
        var ex = Assert.Throws<UsageException>(() => EngineCommandLine.Execute(Line("bench", ["train", flag, value])));
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData("grpo")]
    [InlineData("train-lm")]
    public void AnOutputPathThatIsAFileFailsBeforeAnyWork(string command)
    {
        string file = Path.Combine(_dir, "not-a-directory");
        File.WriteAllText(file, "keep me");
        string text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, "the cat sat on the mat. ");
        var old = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            var ex = Assert.Throws<IOException>(() => command == "grpo"
                ? EngineCommandLine.Execute(Line("grpo", ["tree", "--out", file]))
                : EngineCommandLine.Execute(Line("train-lm", ["--text", text, "--out", file, "--steps", "1"])));
            Assert.Contains($"--out '{file}' is a file", ex.Message);
        }
        finally
        {
            Console.SetOut(old);
        }
        Assert.Equal("", captured.ToString());
        Assert.Equal("keep me", File.ReadAllText(file));
    }

    [Theory]
    [InlineData(null, "trainer_state.json is missing")]
    [InlineData("{\"step\": 1", "does not match its SHA-256")]
    [InlineData("[1, 2]", "has 6 bytes, but the manifest says")]
    public void ResumeRefusesAMissingOrChangedTrainerStateNamingTheFile(string? state, string message)
    {
        string text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        string run = Path.Combine(_dir, "run");
        string[] train = ["--text", text, "--out", run, "--steps", "1", "--batch", "2"];
        Capture(() => EngineCommandLine.Execute(Line("train-lm", train)));
        string statePath = new CheckpointStore(run).Latest()!.File("trainer_state.json");
        if (state is null) File.Delete(statePath);
        else File.WriteAllText(statePath, state + new string(' ', state.Length > 6 ? File.ReadAllBytes(statePath).Length - state.Length : 0));
        var before = Snapshot(run);
        var ex = Assert.Throws<CheckpointException>(() => EngineCommandLine.Execute(Line("train-lm", [.. train, "--resume"])));
        Assert.Contains(message, ex.Message);
        Assert.Contains("trainer_state.json", ex.Message);
        Assert.Equal(before, Snapshot(run));
    }

    [Fact]
    public void ARunIsNeverOverwrittenUnaskedAndAResumeKeepsItsSettings()
    {
        string text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        string run = Path.Combine(_dir, "run");
        string[] train = ["--text", text, "--out", run, "--steps", "2", "--batch", "2", "--checkpoint-every", "1"];
        Capture(() => EngineCommandLine.Execute(Line("train-lm", train)));
        var before = Snapshot(run);
        Assert.Contains("already holds a run", Assert.Throws<IOException>(() => EngineCommandLine.Execute(Line("train-lm", train))).Message);
        Assert.Contains("--batch 3 differs from the run's 2",
            Assert.Throws<UsageException>(() => EngineCommandLine.Execute(Line("train-lm", [.. train[..^4], "--batch", "3", "--resume"]))).Message);
        Assert.Contains("--steps 1 is below the 2 steps",
            Assert.Throws<UsageException>(() => EngineCommandLine.Execute(
                Line("train-lm", ["--text", text, "--out", run, "--steps", "1", "--resume"]))).Message);
        File.WriteAllText(Path.Combine(_dir, "other.txt"), string.Concat(Enumerable.Repeat("a dog ran in the park. ", 100)));
        Assert.Contains("is not the text the run was trained on",
            Assert.Throws<IOException>(() => EngineCommandLine.Execute(
                Line("train-lm", ["--text", Path.Combine(_dir, "other.txt"), "--out", run, "--resume"]))).Message);
        Assert.Equal(before, Snapshot(run));

        // Extending the run and replacing it are each one explicit choice.
        Capture(() => EngineCommandLine.Execute(Line("train-lm", ["--text", text, "--out", run, "--steps", "3", "--resume"])));
        Assert.Equal([1, 2, 3], new CheckpointStore(run).Sets.Select(s => s.Step).ToArray());
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "loss.csv")).Length);
        Capture(() => EngineCommandLine.Execute(Line("train-lm", [.. train, "--force"])));
        Assert.Equal([1, 2], new CheckpointStore(run).Sets.Select(s => s.Step).ToArray());
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run, "loss.csv")).Length);
    }

    [Fact]
    public void ResumeRefusesAConsistentSetWhoseTrainerStateIsMalformedNamingTheField()
    {
        string text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 100)));
        string run = Path.Combine(_dir, "run");
        string[] train = ["--text", text, "--out", run, "--steps", "1", "--batch", "2"];
        Capture(() => EngineCommandLine.Execute(Line("train-lm", train)));
        var set = new CheckpointStore(run).Latest()!;
        foreach (var (state, field) in new[]
            { ("{\"step\": 1}", "'data_position'"), ("{\"step\": \"one\"}", "'step'"), ("[1]", "JSON object"), ("{", "not valid JSON") })
        {
            // Rewritten through the store, so the manifest agrees and the state's own check must catch it.
            var files = Directory.EnumerateFiles(set.Directory).Where(f => !f.EndsWith("manifest.json", StringComparison.Ordinal))
                .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
            files["trainer_state.json"] = System.Text.Encoding.UTF8.GetBytes(state);
            new CheckpointStore(run).Save(1, dir => { foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes); });
            var e = Assert.Throws<CheckpointException>(() => EngineCommandLine.Execute(Line("train-lm", [.. train, "--resume"])));
            Assert.Contains("trainer_state.json", e.Message);
            Assert.Contains(field, e.Message);
        }
    }

    /// <summary>Every file under <paramref name="dir"/> (but the lock) with its bytes, to prove a refusal changed nothing.</summary>
    internal static SortedDictionary<string, string> Snapshot(string dir) =>
        new(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != ".lock")
            .ToDictionary(f => Path.GetRelativePath(dir, f),
                f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))), StringComparer.Ordinal);
}
