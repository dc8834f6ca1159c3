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
    const int Batch = 256, Width = 512, Runs = 100;

    public static void Run()
    {
        using var x = Tensor.Randn(new Shape(Batch, Width), 1);
        using var targets = Tensor.FromInts(Enumerable.Range(0, Batch).Select(i => i * 7 % Width).ToArray(), new Shape(Batch));
        using var w1 = Variable.Parameter(Tensor.Randn(new Shape(Width, Width), 2) * 0.04f);
        using var b1 = Variable.Parameter(Tensor.Zeros(new Shape(Width)));
        using var w2 = Variable.Parameter(Tensor.Randn(new Shape(Width, Width), 3) * 0.04f);
        using var b2 = Variable.Parameter(Tensor.Zeros(new Shape(Width)));

        var grads = new Tensor?[4];
        void Taped()
        {
            using var scope = TensorScope.Open();
            foreach (var p in new[] { w1, b1, w2, b2 }) p.ZeroGrad();
            var input = new Variable(x.Reshape(Batch, Width));
            var h = Variable.BiasGelu(Variable.Linear(input, w1), b1);
            Variable.CrossEntropy(Variable.Linear(h, w2, b2), targets).Backward();
        }

        // The same kernels the tape runs, called by hand, with each temporary freed as soon as it is dead.
        void Raw()
        {
            foreach (var g in grads) g?.Dispose();
            using var u = Tensor.Matmul(x, w1.Value);
            using var h = u.BiasGelu(b1.Value);
            using var y = Tensor.Matmul(h, w2.Value);
            y.AddInPlace(b2.Value);
            using var loss = Tensor.CrossEntropy(y, targets);
            using var dy = Tensor.CrossEntropyBackward(y, targets, -100, 1f / Batch);
            grads[2] = Tensor.Matmul(h, dy, transA: true);
            grads[3] = dy.Sum(0);
            using var dh = Tensor.Matmul(dy, w2.Value, transB: true);
            using var pre = u + b1.Value;
            var du = Tensor.Zip<GeluGrad>(pre, dh);
            grads[0] = Tensor.Matmul(x, du, transA: true);
            grads[1] = du.Sum(0);
            du.Dispose();
        }

        // Interleave the two so that drift in the machine's speed hits both alike.
        var (taped, raw) = InterleavedMedians(Taped, Raw);
        foreach (var g in grads) g?.Dispose();

        Console.WriteLine($"mlp fwd+bwd batch={Batch} width={Width} threads={Environment.ProcessorCount}");
        Console.WriteLine($"engine_tape_ms={taped:F3}");
        Console.WriteLine($"engine_raw_ms={raw:F3}");
        Console.WriteLine($"tape_overhead_pct={(taped / raw - 1) * 100:F1}");
    }

    static (double A, double B) InterleavedMedians(Action a, Action b)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1500) { a(); b(); }
        var ta = new double[Runs];
        var tb = new double[Runs];
        for (int i = 0; i < Runs; i++)
        {
            var sw = Stopwatch.StartNew();
            a();
            ta[i] = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            b();
            tb[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ta);
        Array.Sort(tb);
        return (ta[Runs / 2], tb[Runs / 2]);
    }
}
