namespace Engine.Model.Checkpoints;

/// <summary>The element types of the safetensors format that this reader knows (by their header spelling).</summary>
public enum SafeTensorDType
{
    /// <summary>IEEE binary64.</summary>
    F64,

    /// <summary>IEEE binary32.</summary>
    F32,

    /// <summary>IEEE binary16.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BF16,

    /// <summary>Signed 64-bit integer.</summary>
    I64,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Unsigned byte (readable only as part of the header; some checkpoints store masks so).</summary>
    U8,

    /// <summary>One byte per boolean (readable only as part of the header; some checkpoints store masks so).</summary>
    BOOL,
}

/// <summary>Sizes and spellings of <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.U8 or SafeTensorDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "safetensors: unknown dtype"),
    };

    /// <summary>Whether <see cref="SafeTensorsReader.ReadFloats(string)"/> can convert this type to float32.</summary>
    public static bool IsFloat(this SafeTensorDType dtype) =>
        dtype is SafeTensorDType.F64 or SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;

    /// <summary>Parses the header spelling (<c>"F32"</c>, <c>"BF16"</c>, …); false for anything else.</summary>
    public static bool TryParse(string text, out SafeTensorDType dtype)
    {
        switch (text)
        {
            case "F64": dtype = SafeTensorDType.F64; return true;
            case "F32": dtype = SafeTensorDType.F32; return true;
            case "F16": dtype = SafeTensorDType.F16; return true;
            case "BF16": dtype = SafeTensorDType.BF16; return true;
            case "I64": dtype = SafeTensorDType.I64; return true;
            case "I32": dtype = SafeTensorDType.I32; return true;
            case "U8": dtype = SafeTensorDType.U8; return true;
            case "BOOL": dtype = SafeTensorDType.BOOL; return true;
            default: dtype = default; return false;
        }
    }
}
