using System.Text.Json;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// An MLP and a small attention block trained for 20 AdamW steps must follow PyTorch's run
/// (tests/Fixtures/autograd_parity.json, made by make_autograd_parity.py beside it): every loss, and the
/// final parameters. Tolerance: float32 with different summation orders drifts by ~1e-6 per step.
/// </summary>
public class PyTorchParityTests
{
    static JsonElement Fixture(string name)
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "autograd_parity.json")));
        return doc.RootElement.GetProperty(name);
    }

    static (float[] Data, int[] Shape) Read(JsonElement e) =>
        (e.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray(),
            e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray());

    static void Train(string name, Func<Dictionary<string, Variable>, Engine.Tensor, Engine.Tensor, Variable> loss)
    {
        var f = Fixture(name);
        var p = new Dictionary<string, Variable>();
        foreach (var prop in f.GetProperty("init").EnumerateObject())
        {
            var (d, s) = Read(prop.Value);
            p[prop.Name] = Variable.Parameter(Engine.Tensor.FromArray(d, s), prop.Name);
        }
        var (xd, xs) = Read(f.GetProperty("inputs").GetProperty("x"));
        var (td, ts) = Read(f.GetProperty("inputs").GetProperty("targets"));
        using var x = Engine.Tensor.FromArray(xd, xs);
        using var targets = Engine.Tensor.FromInts(td.Select(v => (int)v).ToArray(), ts);
        var expected = f.GetProperty("losses").EnumerateArray().Select(v => v.GetDouble()).ToArray();

        using var opt = new AdamW(p.Values, lr: 1e-2f, weightDecay: 0.01f);
        var losses = new float[expected.Length];
        for (int step = 0; step < expected.Length; step++)
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            var l = loss(p, x, targets);
            l.Backward();
            losses[step] = l.Value.ToScalar();
            opt.Step();
        }
        Tolerance.AssertClose(losses, expected, 1e-5, 1e-4, $"{name} losses");
        foreach (var prop in f.GetProperty("final").EnumerateObject())
            Tolerance.AssertClose(p[prop.Name].Value.ToArray(), Data.ToDouble(Read(prop.Value).Data), 1e-5, 1e-4, $"{name} final {prop.Name}");
        foreach (var v in p.Values) v.Dispose();
    }

    [Fact]
    public void MlpFollowsPyTorchFor20AdamWSteps() => Train("mlp", (p, x, t) =>
    {
        var input = new Variable(x.Reshape(x.Shape.Dims));
        var h = Variable.BiasGelu(Variable.Linear(input, p["w1"]), p["b1"]);
        return Variable.CrossEntropy(Variable.Linear(h, p["w2"], p["b2"]), t);
    });

    [Fact]
    public void AttentionBlockFollowsPyTorchFor20AdamWSteps() => Train("attention", (p, x, t) =>
    {
        const int b = 2, tt = 6, c = 8, heads = 2;
        var input = new Variable(x.Reshape(x.Shape.Dims));
        var h = Variable.LayerNorm(input, p["ln_w"], p["ln_b"]);
        var qkv = Variable.Linear(h, p["w_qkv"]).Split(-1, c, c, c);
        Variable Heads(Variable v) => v.Reshape(b, tt, heads, c / heads).Permute(0, 2, 1, 3);
        var o = Variable.Attention(Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]), causal: true);
        var merged = o.Permute(0, 2, 1, 3).Reshape(b, tt, c);
        var r = input + Variable.Linear(merged, p["w_proj"], p["b_proj"]);
        return Variable.CrossEntropy(Variable.Linear(r, p["w_head"], p["b_head"]).Reshape(b * tt, 5), t);
    });
}
