using System.Runtime.CompilerServices;

namespace Engine;

/// <summary>An immutable list of dimension sizes, row-major.</summary>
public readonly struct Shape : IEquatable<Shape>
{
    readonly int[]? _dims;
    readonly int _numel;

    /// <summary>Creates a shape; every size must be non-negative and the product must fit in an <see cref="int"/>.</summary>
    public Shape(params ReadOnlySpan<int> dims)
    {
        long n = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new ArgumentException($"shape: negative dimension in {Format(dims)}");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"shape: {Format(dims)} has more than {int.MaxValue} elements");
        }
        _dims = dims.ToArray();
        _numel = (int)n;
    }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Dims.Length;

    /// <summary>Total number of elements; 1 for a scalar, including <c>new Shape()</c> and <c>default</c>.</summary>
    public int Numel => _dims is null ? 1 : _numel;

    /// <summary>The sizes.</summary>
    public ReadOnlySpan<int> Dims => _dims ?? [];

    /// <summary>The size of dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    public int this[int axis] => Dims[axis < 0 ? axis + Rank : axis];

    /// <summary>The last dimension, or 1 for a scalar.</summary>
    public int Last => Rank == 0 ? 1 : Dims[^1];

    /// <summary>A copy of the sizes.</summary>
    public int[] ToArray() => Dims.ToArray();

    /// <summary>Product of the sizes in [start, end).</summary>
    public int Product(int start, int end)
    {
        int p = 1;
        for (int i = start; i < end; i++) p *= Dims[i];
        return p;
    }

    /// <summary>Maps a possibly negative axis into [0, Rank) or throws a <see cref="TensorShapeException"/> naming <paramref name="op"/>.</summary>
    public int Axis(int axis, string op)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new TensorShapeException(op, $"axis {axis} is out of range for shape {this}");
        return a;
    }

    /// <summary>The same shape with dimension <paramref name="axis"/> replaced by <paramref name="size"/>.</summary>
    public Shape With(int axis, int size)
    {
        int[] d = ToArray();
        d[axis] = size;
        return new Shape(d);
    }

    /// <summary>The same shape with dimension <paramref name="axis"/> removed.</summary>
    public Shape Without(int axis)
    {
        var d = new List<int>(Dims.ToArray());
        d.RemoveAt(axis);
        return new Shape([.. d]);
    }

    /// <inheritdoc/>
    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in Dims) h.Add(d);
        return h.ToHashCode();
    }

    /// <summary>Shape equality.</summary>
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);

    /// <summary>Shape inequality.</summary>
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    /// <summary>Converts an array of sizes.</summary>
    public static implicit operator Shape(int[] dims) => new(dims);

    /// <summary>Formats as <c>[2, 3]</c>.</summary>
    public override string ToString() => Format(Dims);

    static string Format(ReadOnlySpan<int> dims)
    {
        var sb = new DefaultInterpolatedStringHandler(2 + 3 * dims.Length, 0);
        sb.AppendLiteral("[");
        for (int i = 0; i < dims.Length; i++)
        {
            if (i > 0) sb.AppendLiteral(", ");
            sb.AppendFormatted(dims[i]);
        }
        sb.AppendLiteral("]");
        return sb.ToStringAndClear();
    }
}
