using Engine.Tests.Support;

namespace Engine.Tests;

public class ToleranceTests
{
    [Fact]
    public void PassesWithinAbsoluteAndRelativeBounds() =>
        Tolerance.AssertClose([1.0f, 100.5f], [1.0000001, 100.0], atol: 1e-6, rtol: 1e-2);

    [Fact]
    public void NaNNeverPasses()
    {
        Assert.ThrowsAny<Exception>(() => Tolerance.AssertClose([float.NaN], [double.NaN], 1, 1));
        Assert.ThrowsAny<Exception>(() => Tolerance.AssertClose([1f], [double.NaN], 1, 1));
    }

    [Fact]
    public void FailureNamesTheWorstIndex()
    {
        var e = Assert.ThrowsAny<Exception>(() => Tolerance.AssertClose([0f, 5f, 1f], [0.0, 0.0, 0.0], 0.5, 0));
        Assert.Contains("index 1", e.Message);
    }
}
