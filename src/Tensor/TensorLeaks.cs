using System.Collections.Concurrent;
using System.Diagnostics;

namespace Engine;

/// <summary>
/// An opt-in report of tensors that were never disposed. With <see cref="Track"/> on (or the environment variable
/// <c>ENGINE_TRACK_TENSOR_LEAKS=1</c> at start-up) every new tensor records where it was created, and when the garbage
/// collector finds one that is unreachable but was never disposed, its creation site joins <see cref="Collect"/>'s report.
/// Off, it costs one null field per tensor.
/// </summary>
public static class TensorLeaks
{
    static volatile bool s_track = Environment.GetEnvironmentVariable("ENGINE_TRACK_TENSOR_LEAKS") is "1" or "true";
    static readonly ConcurrentQueue<TensorLeak> s_found = new();

    /// <summary>Whether tensors created from now on record their creation site (tensors created before are not watched).</summary>
    public static bool Track
    {
        get => s_track;
        set => s_track = value;
    }

    /// <summary>
    /// Runs the garbage collector and its finalizers, then returns every leak found since start-up (or since
    /// <see cref="Clear"/>): each tensor that became unreachable without <see cref="Tensor.Dispose"/>.
    /// </summary>
    public static IReadOnlyList<TensorLeak> Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return [.. s_found];
    }

    /// <summary>Forgets the leaks found so far.</summary>
    public static void Clear() => s_found.Clear();

    /// <summary>A watcher for a new tensor, or null when tracking is off.</summary>
    internal static Watch? Start(Shape shape, DType dtype) => s_track ? new Watch(shape, dtype, new StackTrace(fNeedFileInfo: false)) : null;

    /// <summary>
    /// Reachable only from its tensor, so it is finalized when the tensor is; <see cref="Tensor.Dispose"/> cancels that.
    /// The stack is rendered only for a leak.
    /// </summary>
    internal sealed class Watch(Shape shape, DType dtype, StackTrace createdAt)
    {
        public void Disposed() => GC.SuppressFinalize(this);

        ~Watch() => s_found.Enqueue(new TensorLeak(shape, dtype, FromCaller(createdAt.ToString())));

        /// <summary>
        /// The stack from the <see cref="Tensor"/> method the caller called (say <c>Tensor.Ones</c>) outwards: without the leak
        /// watch, the constructor and the factories that method went through, however the JIT inlined them.
        /// </summary>
        static string FromCaller(string stack)
        {
            var frames = stack.Split(Environment.NewLine);
            int first = 0;
            while (first < frames.Length - 1 && (frames[first].Contains("Engine.TensorLeaks", StringComparison.Ordinal)
                || frames[first].Contains("Engine.Tensor..ctor", StringComparison.Ordinal))) first++;
            while (first < frames.Length - 1 && IsTensorFrame(frames[first]) && IsTensorFrame(frames[first + 1])) first++;
            return string.Join(Environment.NewLine, frames[first..]);
        }

        static bool IsTensorFrame(string frame) => frame.TrimStart().StartsWith("at Engine.Tensor.", StringComparison.Ordinal);
    }
}

/// <summary>A tensor that was never disposed.</summary>
/// <param name="Shape">Its shape.</param>
/// <param name="DType">Its element type.</param>
/// <param name="CreatedAt">The stack where it was created, innermost frame first.</param>
public sealed record TensorLeak(Shape Shape, DType DType, string CreatedAt)
{
    /// <summary>The shape, the dtype and the creation stack.</summary>
    public override string ToString() => $"tensor {Shape} {DType} never disposed, created at:{Environment.NewLine}{CreatedAt}";
}
