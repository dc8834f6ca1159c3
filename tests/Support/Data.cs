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
}
