using System.Diagnostics;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Model;

namespace Engine.Bench;

/// <summary>
/// `dotnet run -c Release --project bench -- gpt`: training tokens/s of the `tiny` (batch 32) and `small`
/// (batch 8) configs (forward, backward and AdamW step), and generation tokens/s (batch 16, 64 new tokens,
/// KV cache) on `tiny`. bench/peers/gpt.py measures the same model written plainly in PyTorch.
/// </summary>
static class GptThroughput
{
    public static void Run()
    {
        Train("tiny", GptConfig.Tiny, 32, steps: 20);
        Train("small", GptConfig.Small, 8, steps: 6);
        Generate();
    }

    static void Train(string name, GptConfig config, int batch, int steps)
    {
        using var model = new Gpt(config, seed: 1);
        using var opt = new AdamW(model.Parameters.Values, 1e-4f);
        int t = config.ContextLength;
        var ids = Enumerable.Range(0, batch * t).Select(i => i * 7919 % config.VocabSize).ToArray();
        using var x = Tensor.FromInts(ids, new Shape(batch, t));
        using var y = Tensor.FromInts(ids.Select(i => (i + 1) % config.VocabSize).ToArray(), new Shape(batch, t));
        void Step()
        {
            using var scope = TensorScope.Open();
            opt.ZeroGrad();
            Gpt.Loss(model.Forward(x), y).Backward();
            opt.Step();
        }
        for (int i = 0; i < 3; i++) Step();
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            Step();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        Console.WriteLine($"train_{name}_tokens_per_s={batch * t / times[steps / 2]:F0}");
    }

    static void Generate()
    {
        using var model = new Gpt(GptConfig.Tiny, seed: 1);
        var prompts = Enumerable.Range(0, 16).Select(i => new[] { i % 64 }).ToArray();
        var options = new GenerationOptions(64, new SamplingOptions(Temperature: 1f), Seed: 1);
        Generation.Generate(model, prompts, options);
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            Generation.Generate(model, prompts, options);
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        Console.WriteLine($"generate_tiny_tokens_per_s={16 * 64 / times[2]:F0}");
    }
}
