namespace Engine.Tests;

/// <summary>TensorScope and reference-counted storage shared by views.</summary>
public class LifetimeTests
{
    [Fact]
    public void ScopeDisposesEveryTemporaryCreatedInIt()
    {
        Tensor a, b, c;
        using (var scope = TensorScope.Open())
        {
            a = Tensor.Ones(new Shape(3));
            b = a.Exp();
            c = b.Neg();
            Assert.Equal(3, scope.Count);
        }
        Assert.True(a.IsDisposed);
        Assert.True(b.IsDisposed);
        Assert.True(c.IsDisposed);
    }

    [Fact]
    public void DisposedByScopeThrowsOnUse()
    {
        Tensor a;
        using (TensorScope.Open()) a = Tensor.Ones(new Shape(2));
        Assert.Throws<ObjectDisposedException>(() => a.ToArray());
    }

    [Fact]
    public void KeepMovesATensorToTheOuterScope()
    {
        Tensor kept, dropped;
        using (var outer = TensorScope.Open())
        {
            using (var inner = TensorScope.Open())
            {
                kept = inner.Keep(Tensor.Ones(new Shape(2)));
                dropped = Tensor.Zeros(new Shape(2));
                Assert.Equal(1, inner.Count);
            }
            Assert.False(kept.IsDisposed);
            Assert.True(dropped.IsDisposed);
            Assert.Equal(1, outer.Count);
            Assert.Equal([1f, 1f], kept.ToArray());
        }
        Assert.True(kept.IsDisposed);
    }

    [Fact]
    public void KeepFromTheOutermostScopeReleasesOwnership()
    {
        Tensor t;
        using (var scope = TensorScope.Open()) t = scope.Keep(Tensor.Ones(new Shape(2)));
        Assert.False(t.IsDisposed);
        t.Dispose();
    }

    [Fact]
    public void TensorsCreatedOutsideAnyScopeAreNotTracked()
    {
        var t = Tensor.Ones(new Shape(2));
        using (var scope = TensorScope.Open()) Assert.Equal(0, scope.Count);
        Assert.False(t.IsDisposed);
        t.Dispose();
    }

    [Fact]
    public void ExplicitDisposeInsideAScopeIsSafe()
    {
        using var scope = TensorScope.Open();
        var t = Tensor.Ones(new Shape(2));
        t.Dispose();
        Assert.True(t.IsDisposed);
    }

    [Fact]
    public void ScopesMustCloseInReverseOrder()
    {
        var outer = TensorScope.Open();
        var inner = TensorScope.Open();
        Assert.Throws<InvalidOperationException>(() => outer.Dispose());
        inner.Dispose();
        // The failed attempt must not have closed outer: it still collects and disposes.
        var t = Tensor.Ones(new Shape(2));
        outer.Dispose();
        Assert.True(t.IsDisposed);
        var free = Tensor.Ones(new Shape(2));
        Assert.False(free.IsDisposed);
        free.Dispose();
    }

    [Fact]
    public void ViewsKeepStorageAliveUntilTheLastIsDisposed()
    {
        var x = Tensor.Arange(6);
        var storage = x.Storage;
        var v = x.Reshape(2, 3);
        var row = v[1];
        x.Dispose();
        Assert.False(storage.IsFreed);
        Assert.Equal([0f, 1, 2, 3, 4, 5], v.ToArray());
        v.Dispose();
        Assert.False(storage.IsFreed);
        Assert.Equal([3f, 4, 5], row.ToArray());
        row.Dispose();
        Assert.True(storage.IsFreed);
    }

    [Fact]
    public void ScopeDisposingAParentLeavesAKeptViewValid()
    {
        Tensor view;
        using (var scope = TensorScope.Open())
        {
            var x = Tensor.Arange(4);
            view = scope.Keep(x.Narrow(1, 2));
        }
        Assert.Equal([1f, 2f], view.ToArray());
        view.Dispose();
    }

    [Fact]
    public void UninitializedStorageIsPoisonedWithNaNUnderTest()
    {
        // Ops allocate outputs without zeroing; the tests fill such memory with NaN so an unwritten element cannot pass.
        using var t = Tensor.Uninitialized(new Shape(5), Device.Cpu);
        Assert.All(t.ToArray(), v => Assert.True(float.IsNaN(v)));
        using var z = Tensor.Zeros(new Shape(5));
        Assert.All(z.ToArray(), v => Assert.Equal(0f, v));
    }
}
