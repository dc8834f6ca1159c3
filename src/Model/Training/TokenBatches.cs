namespace Engine.Model.Training;

/// <summary>
/// Consecutive [batch, time] windows of a token stream with their next-token targets. The only state is
/// <see cref="Position"/>, so a checkpoint that saves it resumes on exactly the next batch.
/// </summary>
public sealed class TokenBatches
{
    readonly int[] _tokens;

    /// <summary>Batches of <paramref name="batch"/> rows of <paramref name="time"/> tokens.</summary>
    public TokenBatches(int[] tokens, int batch, int time)
    {
        if (batch <= 0 || time <= 0) throw new ArgumentException($"batches: batch {batch} and time {time} must be positive");
        if (tokens.Length < time + 1) throw new ArgumentException($"batches: {tokens.Length} tokens are too few for windows of {time} + 1");
        _tokens = tokens;
        Batch = batch;
        Time = time;
    }

    /// <summary>Rows per batch.</summary>
    public int Batch { get; }

    /// <summary>Tokens per row.</summary>
    public int Time { get; }

    /// <summary>Where the next window starts.</summary>
    public long Position { get; set; }

    /// <summary>Tokens in the stream.</summary>
    public int Length => _tokens.Length;

    /// <summary>The next inputs and targets, each Int32 [batch, time]; wraps around at the end of the stream.</summary>
    public (Tensor Inputs, Tensor Targets) Next(Device? device = null)
    {
        var x = new int[Batch * Time];
        var y = new int[Batch * Time];
        for (int r = 0; r < Batch; r++)
        {
            if (Position + Time + 1 > _tokens.Length) Position = 0;
            int p = (int)Position;
            Array.Copy(_tokens, p, x, r * Time, Time);
            Array.Copy(_tokens, p + 1, y, r * Time, Time);
            Position += Time;
        }
        var shape = new Shape(Batch, Time);
        return (Tensor.FromInts(x, shape, device), Tensor.FromInts(y, shape, device));
    }
}
