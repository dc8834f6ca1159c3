using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// The Hugging Face GPT-2 directory: exact save/load round trips, the layouts real checkpoints use
/// (<c>transformer.</c> prefix, mask buffers, tied <c>lm_head.weight</c>), clear errors for missing, extra,
/// repeated or mis-shaped tensors, and the logits of a tiny GPT-2 written by PyTorch
/// (tests/Fixtures/tiny-gpt2, made by tests/Fixtures/make_gpt2_checkpoint.py).
/// </summary>
public class Gpt2CheckpointTests
{
    static readonly GptConfig Small = new(11, 8, 8, 2, 2);

    static int[] Bits(float[] x) => x.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Writes <paramref name="model"/>'s parameters under their names, changed by <paramref name="edit"/> first.</summary>
    static void WriteWeights(Gpt model, string dir, Action<List<SafeTensorEntry>> edit)
    {
        var entries = model.Parameters.Select(p => SafeTensorEntry.Float32(p.Key, p.Value.Shape.ToArray(), p.Value.Value.ToArray())).ToList();
        edit(entries);
        SafeTensors.Write(Path.Combine(dir, Gpt2Checkpoint.WeightsFileName), entries);
        Gpt2Checkpoint.WriteConfig(model.Config, dir);
    }

    static CheckpointException LoadFails(string dir) => Assert.Throws<CheckpointException>(() => Gpt2Checkpoint.Load(dir).Dispose());

    [Fact]
    public void SaveThenLoadRoundTripsEveryParameterExactly()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small with { LayerNormEpsilon = 3e-6f }, seed: 7);
        Gpt2Checkpoint.Save(model, dir.Path);
        using var loaded = Gpt2Checkpoint.Load(dir.Path);
        Assert.Equal(model.Config, loaded.Config);
        Assert.Equal(model.Parameters.Keys, loaded.Parameters.Keys);
        foreach (var (name, p) in model.Parameters)
            Assert.Equal(Bits(p.Value.ToArray()), Bits(loaded[name].Value.ToArray()));

        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!;
        Assert.Equal("gpt2", (string?)config["model_type"]);
        Assert.Equal("GPT2LMHeadModel", (string?)config["architectures"]![0]);
        Assert.Equal("gelu_new", (string?)config["activation_function"]);
        Assert.Equal(8, (int)config["n_ctx"]!);
        Assert.Equal(3e-6, (double)config["layer_norm_epsilon"]!);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void LoadsPrefixedNamesWithMaskBuffersAndTiedHead()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small, seed: 3);
        WriteWeights(model, dir.Path, entries =>
        {
            var prefixed = entries.Select(e => SafeTensorEntry.Float32("transformer." + e.Name, e.Shape, e.Floats!)).ToList();
            entries.Clear();
            entries.AddRange(prefixed);
            for (int i = 0; i < Small.Layers; i++)
            {
                entries.Add(SafeTensorEntry.Float32($"transformer.h.{i}.attn.bias", [1, 1, 8, 8], new float[64]));
                entries.Add(SafeTensorEntry.Float32($"transformer.h.{i}.attn.masked_bias", [], [-1e4f]));
            }
            entries.Add(SafeTensorEntry.Float32("lm_head.weight", [11, 8], model["wte.weight"].Value.ToArray()));
        });
        using var loaded = Gpt2Checkpoint.Load(dir.Path);
        foreach (var (name, p) in model.Parameters)
            Assert.Equal(Bits(p.Value.ToArray()), Bits(loaded[name].Value.ToArray()));
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e => e.RemoveAll(t => t.Name == "h.1.mlp.c_fc.bias"));
        var e = LoadFails(dir.Path);
        Assert.Contains("missing tensor 'h.1.mlp.c_fc.bias'", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsNamed()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e => e.Add(SafeTensorEntry.Float32("h.0.attn.rotary", [2], [1f, 2f])));
        Assert.Contains("unexpected tensor 'h.0.attn.rotary'", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void TensorPresentWithAndWithoutPrefixIsRejected()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e => e.Add(SafeTensorEntry.Float32("transformer.ln_f.bias", [8], new float[8])));
        Assert.Contains("'ln_f.bias' is present twice", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void MisShapedTensorNamesExpectedAndActualShapes()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e =>
        {
            int i = e.FindIndex(t => t.Name == "h.0.attn.c_attn.weight");
            e[i] = SafeTensorEntry.Float32("h.0.attn.c_attn.weight", [24, 8], e[i].Floats!); // transposed
        });
        Assert.Contains("tensor 'h.0.attn.c_attn.weight' has shape [24, 8], expected [8, 24]", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void IntegerParameterIsRejected()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e =>
        {
            int i = e.FindIndex(t => t.Name == "ln_f.bias");
            e[i] = SafeTensorEntry.Int32("ln_f.bias", [8], new int[8]);
        });
        Assert.Contains("tensor 'ln_f.bias' has dtype I32, expected a floating-point type", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void TiedHeadOfTheWrongShapeIsRejected()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, e => e.Add(SafeTensorEntry.Float32("lm_head.weight", [12, 8], new float[96])));
        Assert.Contains("'lm_head.weight' (tied to wte.weight) has shape [12, 8], expected [11, 8]", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void ConfigContradictingTheTensorsIsReported()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small);
        WriteWeights(model, dir.Path, _ => { });
        Gpt2Checkpoint.WriteConfig(Small with { Width = 12 }, dir.Path);
        Assert.Contains("tensor 'wte.weight' has shape [11, 8], expected [11, 12] from config.json", LoadFails(dir.Path).Message);
        Gpt2Checkpoint.WriteConfig(Small with { Layers = 1 }, dir.Path);
        Assert.Contains("unexpected tensor 'h.1.", LoadFails(dir.Path).Message);
        Gpt2Checkpoint.WriteConfig(Small with { Layers = 3 }, dir.Path);
        Assert.Contains("missing tensors 'h.2.ln_1.weight'", LoadFails(dir.Path).Message);
    }

    [Theory]
    [InlineData("""{"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 2}""", "missing 'n_head'")]
    [InlineData("""{"vocab_size": "11", "n_positions": 8, "n_embd": 8, "n_layer": 2, "n_head": 2}""", "'vocab_size' is not a 32-bit integer")]
    [InlineData("""{"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 2, "n_head": 3}""", "not divisible by n_head 3")]
    [InlineData("""{"vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 2, "n_head": 2, "activation_function": "relu"}""",
        "'activation_function' is \"relu\"")]
    [InlineData("""{"vocab_size": 11, """, "not valid JSON")]
    public void BadConfigIsReported(string json, string expected)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), json);
        var e = Assert.Throws<CheckpointException>(() => Gpt2Checkpoint.ReadConfig(dir.Path));
        Assert.Contains(expected, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void ConfigWithOnlyNCtxAndDefaultEpsilonIsRead()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), """{"vocab_size": 11, "n_ctx": 8, "n_embd": 8, "n_layer": 2, "n_head": 2}""");
        Assert.Equal(new GptConfig(11, 8, 8, 2, 2, 1e-5f), Gpt2Checkpoint.ReadConfig(dir.Path));
    }

    [Fact]
    public void OptimizerStateRoundTripsExactly()
    {
        using var dir = new TempDirectory();
        using var model = new Gpt(Small, seed: 1);
        using var ids = Tensor.FromInts([1, 2, 3, 4], new Shape(1, 4));
        using var targets = Tensor.FromInts([2, 3, 4, 5], new Shape(1, 4));
        using var adam = new AdamW(model.Parameters.Values, lr: 1e-2f);
        for (int step = 0; step < 2; step++)
        {
            using var scope = TensorScope.Open();
            adam.ZeroGrad();
            Gpt.Loss(model.Forward(ids), targets).Backward();
            adam.Step();
        }
        Gpt2Checkpoint.SaveOptimizer(adam, dir.Path);
        var saved = adam.ExportState();

        using var fresh = new AdamW(model.Parameters.Values, lr: 0.5f);
        Gpt2Checkpoint.LoadOptimizer(fresh, dir.Path);
        var restored = fresh.ExportState();
        Assert.Equal(2, fresh.StepCount);
        Assert.Equal(saved.Keys.Order(), restored.Keys.Order());
        foreach (var (k, v) in saved) Assert.Equal(Bits(v), Bits(restored[k]));

        using var narrow = new Gpt(Small with { Width = 4 });
        using var other = new AdamW(narrow.Parameters.Values);
        Assert.Contains("optimizer.safetensors", Assert.Throws<CheckpointException>(() => Gpt2Checkpoint.LoadOptimizer(other, dir.Path)).Message);
    }

    [Fact]
    public void TinyGpt2FromPyTorchGivesTheSameLogits()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-gpt2");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected_logits.json")));
        var ids = expected.RootElement.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var logits = expected.RootElement.GetProperty("logits").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        using var model = Gpt2Checkpoint.Load(dir);
        Assert.Equal(new GptConfig(50, 16, 16, 2, 2, 1e-5f), model.Config);
        using var scope = TensorScope.Open();
        var input = Tensor.FromInts(ids, new Shape(1, ids.Length));
        var actual = model.Forward(input);
        Assert.Equal(new Shape(1, ids.Length, 50), actual.Shape);
        Tolerance.AssertClose(actual.Value.ToArray(), logits, 1e-5, 1e-4, "tiny-gpt2 logits");
    }
}
