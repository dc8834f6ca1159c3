namespace Engine;

/// <summary>
/// Thrown when an op receives shapes, axes or dtypes it cannot work with. The message names the op and
/// every shape involved; nothing has been written when it is thrown.
/// </summary>
public sealed class TensorShapeException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="op"/>.</summary>
    public TensorShapeException(string op, string message) : base($"{op}: {message}") => Op = op;

    /// <summary>Creates the exception with the standard message.</summary>
    public TensorShapeException() : base("tensor shape error") => Op = "";

    /// <summary>Creates the exception with a message.</summary>
    public TensorShapeException(string message) : base(message) => Op = "";

    /// <summary>Creates the exception with a message and inner exception.</summary>
    public TensorShapeException(string message, Exception inner) : base(message, inner) => Op = "";

    /// <summary>The op that rejected its inputs.</summary>
    public string Op { get; }
}
