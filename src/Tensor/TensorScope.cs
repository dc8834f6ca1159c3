namespace Engine;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost open scope and disposes them
/// when it closes, so the temporaries of a training step are freed deterministically. Tensors that must
/// outlive the scope are handed to the enclosing one (or to nobody) with <see cref="Keep"/>.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static TensorScope? t_current;

    readonly TensorScope? _outer;
    readonly List<Tensor> _owned = [];
    bool _closed;

    TensorScope()
    {
        _outer = t_current;
        t_current = this;
    }

    /// <summary>Opens a scope on the current thread.</summary>
    public static TensorScope Open() => new();

    /// <summary>Number of tensors this scope will dispose.</summary>
    public int Count => _owned.Count;

    internal static void Track(Tensor t) => t_current?._owned.Add(t);

    /// <summary>Takes <paramref name="t"/> out of every open scope on this thread: its owner will dispose it explicitly.</summary>
    public static Tensor Untrack(Tensor t)
    {
        for (var s = t_current; s is not null; s = s._outer)
        {
            int i = s._owned.LastIndexOf(t);
            if (i >= 0)
            {
                s._owned.RemoveAt(i);
                break;
            }
        }
        return t;
    }

    /// <summary>Removes <paramref name="t"/> from this scope and gives it to the enclosing scope, if any.</summary>
    public Tensor Keep(Tensor t)
    {
        int i = _owned.LastIndexOf(t);
        if (i >= 0) _owned.RemoveAt(i);
        _outer?._owned.Add(t);
        return t;
    }

    /// <summary>Disposes every tensor still owned and restores the enclosing scope.</summary>
    public void Dispose()
    {
        if (_closed) return;
        // Check before marking closed: a scope closed out of order must stay usable, or the thread's
        // current scope would later fall back to a closed scope that never disposes what it collects.
        if (t_current != this) throw new InvalidOperationException("tensor scopes must close in the reverse order they were opened");
        _closed = true;
        t_current = _outer;
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
