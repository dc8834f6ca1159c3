using Engine.Autograd;

namespace Engine.Tests;

public class ReadmeTests
{
    [Fact]
    public void TheReadmeSnippetPrintsWhatItSays()
    {
        using var scope = TensorScope.Open();
        using var x = Variable.Parameter(Engine.Tensor.FromArray([1f, 2f, 3f]));
        var y = (x * x).Sum();
        y.Backward();
        Assert.Equal("14", y.Value.ToScalar().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("2, 4, 6", string.Join(", ", x.Grad!.ToArray()));
    }
}
