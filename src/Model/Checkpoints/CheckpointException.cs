namespace Engine.Model.Checkpoints;

/// <summary>
/// A checkpoint, configuration or tokenizer file that cannot be used as it is: malformed, truncated,
/// inconsistent, or not matching the model. The message names the file and the tensor or field at fault.
/// (It derives from <see cref="IOException"/> because <see cref="InvalidDataException"/> is sealed.)
/// </summary>
public sealed class CheckpointException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public CheckpointException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public CheckpointException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with no message (prefer the other constructors).</summary>
    public CheckpointException() { }
}
