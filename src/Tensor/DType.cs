namespace Engine;

/// <summary>Element types. Both are four bytes wide, so one storage serves either.</summary>
public enum DType
{
    /// <summary>IEEE-754 single precision; every differentiable tensor has this type.</summary>
    Float32,

    /// <summary>32-bit signed integers: token ids, targets, argmax results.</summary>
    Int32,
}
