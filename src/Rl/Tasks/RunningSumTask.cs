using Engine.Model.Tokenizers;
using Engine.Random;
using Engine.Rl.Rewards;

namespace Engine.Rl.Tasks;

/// <summary>
/// A task whose completions are long and share structure: the prompt <c>^3+8+5+9+2+7+1+4=</c> (^ is BOS) lists eight digits, and
/// the completion writes every running sum from the second on, <c>11,16,25,27,34,35,39;</c> (21 tokens). The outcome reward pays
/// only for the last sum, so the intermediate sums are the "reasoning": samples that agree on the first sums share those tokens,
/// and a group's trie is deep (a mistake branches off and carries into every later sum). Held-out problems are a fixed tenth of
/// the 10⁸ prompts, chosen by a hash of the prompt; training never draws them.
/// </summary>
public sealed class RunningSumTask : IProblemTask
{
    /// <summary>Digits in a prompt.</summary>
    public const int Terms = 8;

    /// <summary>The characters of the vocabulary, in id order; '^' is BOS and ';' ends a completion.</summary>
    public const string Alphabet = "^0123456789+=,;";

    /// <summary>The one instance (the task has no settings).</summary>
    public static RunningSumTask Instance { get; } = new();

    RunningSumTask() { }

    /// <inheritdoc/>
    public string Name => "running sums";

    /// <inheritdoc/>
    public CharTokenizer Tokenizer { get; } = new(Alphabet.Select(c => c.ToString()));

    /// <inheritdoc/>
    public int PromptLength => 2 * Terms + 1;

    /// <inheritdoc/>
    public int AnswerLength => 3 * (Terms - 1);

    /// <inheritdoc/>
    public int End => Tokenizer.Encode(";")[0];

    /// <summary>Problem <paramref name="index"/> of stream <paramref name="seed"/> (a pure function of both).</summary>
    public static ArithmeticProblem Problem(ulong seed, ulong index)
    {
        var b = Philox.Block(seed, index);
        var digits = Enumerable.Range(0, Terms).Select(i => (int)((i < Terms / 2 ? b.X0 : b.X1) / (uint)Math.Pow(10, i % (Terms / 2)) % 10))
            .ToArray();
        var sums = new List<string>();
        for (int i = 1, sum = digits[0]; i < Terms; i++)
        {
            sum += digits[i];
            sums.Add(sum.ToString("00", System.Globalization.CultureInfo.InvariantCulture));
        }
        return new ArithmeticProblem($"^{string.Join('+', digits)}=", string.Join(',', sums) + ";");
    }

    /// <summary>Whether the problem is in the held-out tenth (a fixed hash of its prompt).</summary>
    public static bool IsHeldOut(ArithmeticProblem problem) => HeldOutSplit.Contains(problem);

    /// <inheritdoc/>
    public ArithmeticProblem Train(ulong index) => HeldOutSplit.Draw(Problem, 1, index, heldOut: false);

    /// <inheritdoc/>
    public ArithmeticProblem HeldOut(ulong index) => HeldOutSplit.Draw(Problem, 2, index, heldOut: true);

    /// <summary>The last running sum of a completion's text before its end mark ("" when there is none).</summary>
    public static string FinalSum(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int comma = text.LastIndexOf(',');
        return comma < 0 ? text : text[(comma + 1)..];
    }

    /// <inheritdoc/>
    public bool Solves(ArithmeticProblem problem, string completion)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(completion);
        return completion.EndsWith(';') && FinalSum(completion[..^1]) == FinalSum(problem.Answer[..^1]);
    }

    /// <inheritdoc/>
    public WeightedReward Reward() => new(new DelegateReward("final_sum", input =>
        input.Completion.Count > 0 && input.Completion[^1] == End
            && FinalSum(input.Text ?? "") == FinalSum(((ArithmeticProblem)input.TaskData!).Answer[..^1]) ? 1f : 0f));
}
