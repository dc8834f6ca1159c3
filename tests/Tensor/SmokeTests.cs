using Engine.Tests.Support;

namespace Engine.Tests;

public class SmokeTests
{
    [Fact]
    public void MatmulMatchesHandComputedProduct()
    {
        // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
        using var a = Tensor.FromArray([1f, 2, 3, 4], new Shape(2, 2));
        using var b = Tensor.FromArray([5f, 6, 7, 8], new Shape(2, 2));
        using var c = Tensor.Matmul(a, b);
        Tolerance.AssertClose(c.ToArray(), [19.0, 22, 43, 50], 0, 0);
    }
}
