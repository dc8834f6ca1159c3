using System.Text.Json;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// A tiny GPT against the same model written plainly in PyTorch (tests/Fixtures/gpt_parity.json, made by
/// make_gpt_parity.py beside it): logits, every parameter gradient, and the first 10 AdamW losses.
/// </summary>
public class GptParityTests
{
    [Fact]
    public void LogitsGradientsAndLossesMatchPyTorch()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt_parity.json")));
        var f = doc.RootElement;
        var cfg = f.GetProperty("config");
        var config = new GptConfig(cfg.GetProperty("vocab").GetInt32(), cfg.GetProperty("context").GetInt32(), cfg.GetProperty("width").GetInt32(),
            cfg.GetProperty("layers").GetInt32(), cfg.GetProperty("heads").GetInt32());
        using var model = new Gpt(config);
        foreach (var p in f.GetProperty("init").EnumerateObject()) model[p.Name].Value.CopyFrom(Floats(p.Value));
        Assert.Equal(f.GetProperty("init").EnumerateObject().Count(), model.Parameters.Count);

        int[][] Rows(string name) =>
            f.GetProperty(name).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        var ids = Rows("ids");
        var targets = Rows("targets");
        var shape = new Shape(ids.Length, ids[0].Length);
        using var x = Engine.Tensor.FromInts(ids.SelectMany(r => r).ToArray(), shape);
        using var y = Engine.Tensor.FromInts(targets.SelectMany(r => r).ToArray(), shape);

        using (TensorScope.Open())
        {
            var logits = model.Forward(x);
            Tolerance.AssertClose(logits.Value.ToArray(), Floats(f.GetProperty("logits")), 1e-5, 1e-4, "logits");
            Gpt.Loss(logits, y).Backward();
        }
        foreach (var g in f.GetProperty("grads").EnumerateObject())
            Tolerance.AssertClose(model[g.Name].Grad!.ToArray(), Floats(g.Value), 1e-6, 1e-4, $"gradient of {g.Name}");

        using var opt = new AdamW(model.Parameters.Values, lr: f.GetProperty("lr").GetSingle(),
            weightDecay: f.GetProperty("weight_decay").GetSingle());
        var expected = f.GetProperty("losses").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var losses = new float[expected.Length];
        for (int step = 0; step < losses.Length; step++)
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            var loss = Gpt.Loss(model.Forward(x), y);
            loss.Backward();
            losses[step] = loss.Value.ToScalar();
            opt.Step();
        }
        Tolerance.AssertClose(losses, expected, 1e-5, 1e-5, "training losses");
    }

    static float[] Floats(JsonElement e) => e.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
}
