using System.Text.Json;
using Engine.Cli;
using Engine.Cli.Commands;
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
        string stdout = Capture(() => EvalCommand.Run(new Arguments(["--model", _dir, "--tokens", tokens, "--json"])));
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
        var e = Assert.Throws<ArgumentException>(() => EvalCommand.Run(new Arguments(["--model", _dir, "--tokens", tokens, "--json"])));
        Assert.Contains("same length", e.Message);
    }

    [Fact]
    public void SampleJsonHasIdsAndTextWhenATokenizerIsPresent()
    {
        using (var model = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(model, _dir);
        new CharTokenizer(["a", "b", "c", "d", "e", "f", "g", "h", "i"]).Save(_dir);
        string stdout = Capture(() => SampleCommand.Run(new Arguments(["--model", _dir, "--prompt", "abc", "--max-new-tokens", "4", "--greedy", "--json"])));
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
        string stdout = Capture(() => SampleCommand.Run(new Arguments(["--model", _dir, "--prompt-ids", "1,2,3", "--max-new-tokens", "3", "--temperature", "0.7", "--top-k", "3", "--top-p", "0.9", "--seed", "5", "--json"])));
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
            t.Run(quiet: true);
            straight = model.Parameters.Values.Select(p => p.Value.ToArray()).ToArray();
        }
        long position;
        using (var model = new Gpt(Micro, seed: 1))
        using (var t = new LmTrainer(model, stream, stream, options))
        {
            t.Run(untilStep: 3, quiet: true);
            Gpt2Checkpoint.Save(model, _dir);
            Gpt2Checkpoint.SaveOptimizer(t.Optimizer, _dir);
            position = t.Data.Position;
        }
        using var resumed = Gpt2Checkpoint.Load(_dir);
        using var t2 = new LmTrainer(resumed, stream, stream, options) { Step = 3 };
        Gpt2Checkpoint.LoadOptimizer(t2.Optimizer, _dir);
        t2.Data.Position = position;
        t2.Run(quiet: true);
        Assert.Equal(straight, resumed.Parameters.Values.Select(p => p.Value.ToArray()).ToArray());
    }
}
