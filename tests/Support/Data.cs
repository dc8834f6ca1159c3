namespace Engine.Tests.Support;

/// <summary>Deterministic random test inputs (System.Random with a fixed seed).</summary>
public static class Data
{
    public static float[] Uniform(int n, int seed, float lo = -1f, float hi = 1f)
    {
        var r = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)r.NextDouble();
        return a;
    }

    public static int[] Ints(int n, int seed, int lo, int hi)
    {
        var r = new System.Random(seed);
        var a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.Next(lo, hi);
        return a;
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);

    /// <summary>Values on a 0.5 grid in [-2, 2], so comparisons and max/min see many exact ties.</summary>
    public static float[] Grid(int n, int seed) => Array.ConvertAll(Ints(n, seed, -4, 5), v => v * 0.5f);

    /// <summary>A float tensor of <paramref name="shape"/> with uniform values in [lo, hi).</summary>
    public static Tensor Tensor(int[] shape, int seed, float lo = -1f, float hi = 1f) =>
        Engine.Tensor.FromArray(Uniform(new Shape(shape).Numel, seed, lo, hi), new Shape(shape));
}
