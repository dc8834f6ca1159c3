using System.Globalization;

namespace Engine.Tests.Support;

/// <summary>
/// The one closeness check of the test suite: |actual − expected| ≤ atol + rtol·|expected| element-wise.
/// NaN never passes (not even against NaN); infinities must match exactly. A failure names the worst
/// element, its index and both values.
/// </summary>
public static class Tolerance
{
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what = "values")
    {
        if (actual.Length != expected.Length)
            throw new Xunit.Sdk.XunitException($"{what}: length {actual.Length}, expected {expected.Length}");
        int worst = -1;
        double worstExcess = double.NegativeInfinity, worstDiff = 0;
        int failures = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], e = expected[i];
            bool ok;
            double diff, excess;
            if (double.IsNaN(a) || double.IsNaN(e)) { ok = false; diff = double.NaN; excess = double.PositiveInfinity; }
            else if (double.IsInfinity(a) || double.IsInfinity(e))
            {
                ok = a == e;
                diff = ok ? 0 : double.PositiveInfinity;
                excess = ok ? double.NegativeInfinity : double.PositiveInfinity;
            }
            else
            {
                diff = Math.Abs(a - e);
                double allowed = atol + rtol * Math.Abs(e);
                ok = diff <= allowed;
                excess = diff - allowed;
            }
            if (!ok) failures++;
            if (excess > worstExcess || worst < 0)
            {
                worstExcess = excess;
                worst = i;
                worstDiff = diff;
            }
        }
        if (failures > 0)
            throw new Xunit.Sdk.XunitException(string.Format(CultureInfo.InvariantCulture,
                "{0}: {1} of {2} elements outside atol={3:G3}, rtol={4:G3}; worst at index {5}: actual {6:G9}, expected {7:G9}, |diff| {8:G3}",
                what, failures, actual.Length, atol, rtol, worst, actual[worst], expected[worst], worstDiff));
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what = "values")
    {
        var e = new double[expected.Length];
        for (int i = 0; i < e.Length; i++) e[i] = expected[i];
        AssertClose(actual, e, atol, rtol, what);
    }

    public static void AssertClose(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what = "values")
    {
        var a = new float[actual.Length];
        if (actual.Length != expected.Length) throw new Xunit.Sdk.XunitException($"{what}: length {actual.Length}, expected {expected.Length}");
        // Compare in double: route through the float overload only for reporting when it fails.
        for (int i = 0; i < actual.Length; i++)
        {
            double x = actual[i], e = expected[i];
            bool ok = !double.IsNaN(x) && !double.IsNaN(e) && (double.IsInfinity(e) ? x == e : Math.Abs(x - e) <= atol + rtol * Math.Abs(e));
            if (!ok)
            {
                for (int j = 0; j < a.Length; j++) a[j] = (float)actual[j];
                AssertClose(a, expected, atol, rtol, what);
                throw new Xunit.Sdk.XunitException($"{what}: index {i}: actual {x:G17}, expected {e:G17}, atol={atol:G3}, rtol={rtol:G3}");
            }
        }
    }
}
