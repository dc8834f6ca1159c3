using System.Diagnostics;
using Engine.Autograd;
using Engine.Ops;

namespace Engine.Bench;

/// <summary>
/// `dotnet run -c Release --project bench -- autograd`: forward + backward of a 2-layer MLP (batch 256,
/// width 512, GELU, cross-entropy) through the tape, against the same ops called by hand without one.
/// Prints median milliseconds and the tape's overhead; bench/peers/autograd.py times PyTorch on the same model.
/// </summary>
static class AutogradOverhead
{
    const int Batch = 256, Width = 512, Runs = 40;

    public static void Run()
    {
        using var x = Tensor.Randn(new Shape(Batch, Width), 1);
        using var targets = Tensor.FromInts(Enumerable.Range(0, Batch).Select(i => i * 7 % Width).ToArray(), new Shape(Batch));
        using var w1 = Variable.Parameter(Tensor.Randn(new Shape(Width, Width), 2) * 0.04f);
        using var b1 = Variable.Parameter(Tensor.Zeros(new Shape(Width)));
        using var w2 = Variable.Parameter(Tensor.Randn(new Shape(Width, Width), 3) * 0.04f);
        using var b2 = Variable.Parameter(Tensor.Zeros(new Shape(Width)));

        double taped = Median(() =>
        {
            using var scope = TensorScope.Open();
            foreach (var p in new[] { w1, b1, w2, b2 }) p.ZeroGrad();
            var input = new Variable(x.Reshape(Batch, Width));
            var h = Variable.BiasGelu(Variable.Linear(input, w1), b1);
            Variable.CrossEntropy(Variable.Linear(h, w2, b2), targets).Backward();
        });

        double raw = Median(() =>
        {
            using var scope = TensorScope.Open();
            // forward
            var u = Tensor.Matmul(x, w1.Value);
            var h = u.BiasGelu(b1.Value);
            var y = Tensor.Matmul(h, w2.Value);
            y.AddInPlace(b2.Value);
            Tensor.CrossEntropy(y, targets);
            // backward
            var dy = Tensor.CrossEntropyBackward(y, targets, -100, 1f / Batch);
            Tensor.Matmul(h, dy, transA: true);            // dW2
            dy.Sum(0);                                     // db2
            var dh = Tensor.Matmul(dy, w2.Value, transB: true);
            var pre = u + b1.Value;
            var du = Tensor.Zip<GeluGrad>(pre, dh);
            Tensor.Matmul(x, du, transA: true);            // dW1
            du.Sum(0);                                     // db1
        });

        Console.WriteLine($"mlp fwd+bwd batch={Batch} width={Width} threads={Environment.ProcessorCount}");
        Console.WriteLine($"engine_tape_ms={taped:F3}");
        Console.WriteLine($"engine_raw_ms={raw:F3}");
        Console.WriteLine($"tape_overhead_pct={(taped / raw - 1) * 100:F1}");
    }

    static double Median(Action body)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1500) body();
        var t = new double[Runs];
        for (int i = 0; i < Runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            t[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(t);
        return t[Runs / 2];
    }
}
