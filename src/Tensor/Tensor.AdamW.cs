namespace Engine;

public sealed partial class Tensor
{
    /// <summary>One fused AdamW update of every slot, in place.</summary>
    public static void AdamW(ReadOnlySpan<AdamWSlot> slots, AdamWStep step)
    {
        if (slots.Length == 0) return;
        var first = slots[0].Param;
        foreach (var s in slots)
        {
            s.Param.RequireDType(DType.Float32, "adamw");
            foreach (var t in new[] { s.Grad, s.M, s.V })
            {
                t.RequireDType(DType.Float32, "adamw");
                s.Param.RequireSameDevice(t, "adamw");
                if (t.Shape != s.Param.Shape) throw new TensorShapeException("adamw",
                    $"parameter {s.Param.Shape} has a state or gradient of shape {t.Shape}");
            }
            first.RequireSameDevice(s.Param, "adamw");
        }
        first.Backend.AdamW(slots, step);
        foreach (var s in slots)
        {
            s.Param.MarkWritten();
            s.M.MarkWritten();
            s.V.MarkWritten();
        }
    }
}
