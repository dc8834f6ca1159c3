namespace Engine.Autograd;

/// <summary>The kinds of <see cref="AttentionMask"/>.</summary>
public enum AttentionMaskKind
{
    /// <summary>Every query sees every key.</summary>
    Full,

    /// <summary>Query i sees keys j ≤ i + (S − T): a decoder's mask, also when the keys include cached positions.</summary>
    Causal,

    /// <summary>An additive mask tensor (0 to see, −∞ to block), broadcast to [..., T, S], optionally also causal.</summary>
    Additive,

    /// <summary>A packed tree of sequences: each position sees itself and its ancestors.</summary>
    Tree,

    /// <summary>
    /// Generation from a prefix shared by a group of sequences: every query sees its group's prefix keys and, causally,
    /// its own sequence's keys. Forward only.
    /// </summary>
    SharedPrefix,
}

/// <summary>
/// Which keys each query of <see cref="Variable.Attention(Variable, Variable, Variable, AttentionMask)"/> sees. One entry
/// point serves every variant; it picks the fused kernel, the tree walk or the composed matmul–softmax–matmul per
/// device and shape.
/// </summary>
public sealed class AttentionMask
{
    Tensor? _dense;

    AttentionMask(AttentionMaskKind kind, Tensor? additive = null, bool causal = false, TreeMask? tree = null,
        Tensor? prefixKeys = null, Tensor? prefixValues = null)
    {
        Kind = kind;
        AdditiveMask = additive;
        IsCausal = causal;
        TreeMask = tree;
        PrefixKeys = prefixKeys;
        PrefixValues = prefixValues;
    }

    /// <summary>No mask.</summary>
    public static AttentionMask Full { get; } = new(AttentionMaskKind.Full);

    /// <summary>The causal mask of a decoder.</summary>
    public static AttentionMask Causal { get; } = new(AttentionMaskKind.Causal, causal: true);

    /// <summary>
    /// An additive <paramref name="mask"/> (a constant: 0 to see, −∞ to block) that broadcasts to [..., T, S]; with
    /// <paramref name="causal"/> the causal mask applies as well.
    /// </summary>
    public static AttentionMask Additive(Tensor mask, bool causal = false)
    {
        ArgumentNullException.ThrowIfNull(mask);
        return new AttentionMask(AttentionMaskKind.Additive, additive: mask, causal: causal);
    }

    /// <summary>
    /// Each position of a packed tree sees itself and its ancestors. On a device that cannot walk trees the mask is
    /// applied densely, built once per mask (reuse one mask across layers) and owned by the enclosing
    /// <see cref="TensorScope"/>.
    /// </summary>
    public static AttentionMask Tree(TreeMask tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return new AttentionMask(AttentionMaskKind.Tree, tree: tree);
    }

    /// <summary>
    /// Queries [G·R, H, T, D] of G groups of R sequences each see their group's prefix, <paramref name="keys"/> and
    /// <paramref name="values"/> [G, H, P, D] (stored once per group), then their own keys causally. For generation:
    /// the variant has no backward pass.
    /// </summary>
    public static AttentionMask SharedPrefix(Tensor keys, Tensor values)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        if (keys.Rank != 4 || values.Rank != 4 || keys.Shape.Dims[..3].SequenceEqual(values.Shape.Dims[..3]) is false)
            throw new TensorShapeException("attention", $"prefix keys {keys.Shape} and values {values.Shape} must be [G, H, P, D] alike");
        return new AttentionMask(AttentionMaskKind.SharedPrefix, prefixKeys: keys, prefixValues: values);
    }

    /// <summary>The variant.</summary>
    public AttentionMaskKind Kind { get; }

    /// <summary>The additive mask (<see cref="AttentionMaskKind.Additive"/>).</summary>
    public Tensor? AdditiveMask { get; }

    /// <summary>Whether the causal mask applies (<see cref="AttentionMaskKind.Causal"/>, or an additive mask that is also causal).</summary>
    public bool IsCausal { get; }

    /// <summary>The tree (<see cref="AttentionMaskKind.Tree"/>).</summary>
    public TreeMask? TreeMask { get; }

    /// <summary>The group prefixes' keys [G, H, P, D] (<see cref="AttentionMaskKind.SharedPrefix"/>).</summary>
    public Tensor? PrefixKeys { get; }

    /// <summary>The group prefixes' values [G, H, P, D] (<see cref="AttentionMaskKind.SharedPrefix"/>).</summary>
    public Tensor? PrefixValues { get; }

    /// <summary>The tree as a dense additive [N, N] mask on <paramref name="device"/>: the one place it is built.</summary>
    internal Tensor DenseTree(Device device)
    {
        var tree = TreeMask ?? throw new InvalidOperationException("attention: only a tree mask has a dense form");
        if (_dense is null || _dense.IsDisposed || _dense.Device != device)
            _dense = Tensor.FromArray(tree.Dense(), new Shape(tree.Length, tree.Length), device);
        return _dense;
    }
}
