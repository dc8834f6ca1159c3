using Engine.Model.Tokenizers;
using Engine.Random;
using Engine.Rl.Rewards;

namespace Engine.Rl.Tasks;

/// <summary>One problem: its prompt text and the exact answer text the completion must hold.</summary>
public sealed record ArithmeticProblem(string Prompt, string Answer);

/// <summary>
/// Two-digit addition and subtraction with a fixed-width format: the prompt <c>^47-19=</c> (^ is BOS) is
/// answered by <c>+028;</c> — a sign, three digits and the end mark. Every prompt and every correct
/// completion has the same length, so groups and evaluation batches need no padding. The reward is 1 for
/// the exact answer and 0 otherwise.
/// </summary>
public static class ArithmeticTask
{
    /// <summary>The characters of the vocabulary, in id order; '^' is BOS and ';' ends an answer.</summary>
    public const string Alphabet = "^0123456789+-=;";

    /// <summary>The tokenizer over <see cref="Alphabet"/>.</summary>
    public static CharTokenizer Tokenizer { get; } = new(Alphabet.Select(c => c.ToString()));

    /// <summary>The id of the end mark.</summary>
    public static int End => Tokenizer.Encode(";")[0];

    /// <summary>Tokens in a prompt (<c>^ab±cd=</c>).</summary>
    public const int PromptLength = 7;

    /// <summary>Tokens in an answer (<c>±xyz;</c>).</summary>
    public const int AnswerLength = 5;

    /// <summary>Problem <paramref name="index"/> of the stream <paramref name="seed"/> (a pure function of both).</summary>
    public static ArithmeticProblem Problem(ulong seed, ulong index)
    {
        var b = Philox.Block(seed, index);
        int x = (int)(b.X0 % 100), y = (int)(b.X1 % 100);
        bool add = (b.X2 & 1) == 0;
        int result = add ? x + y : x - y;
        return new ArithmeticProblem($"^{x:00}{(add ? '+' : '-')}{y:00}=", $"{(result < 0 ? '-' : '+')}{Math.Abs(result):000};");
    }

    /// <summary>
    /// Whether <paramref name="problem"/> belongs to the held-out tenth of the 20,000 problems, by a fixed hash of its
    /// text: evaluation draws only these, and training never does.
    /// </summary>
    public static bool IsHeldOut(ArithmeticProblem problem) => HeldOutSplit.Contains(problem);

    /// <summary>Training problem <paramref name="index"/>: drawn from stream 1, never a held-out one.</summary>
    public static ArithmeticProblem Train(ulong index) => HeldOutSplit.Draw(Problem, 1, index, heldOut: false);

    /// <summary>Held-out problem <paramref name="index"/>: drawn from stream 2 among the held-out tenth only.</summary>
    public static ArithmeticProblem HeldOut(ulong index) => HeldOutSplit.Draw(Problem, 2, index, heldOut: true);

    /// <summary>
    /// The exact-answer reward: 1 if the completion is the answer and then the end mark, else 0. The trainer stops at
    /// the end mark and hands the reward the text before it, so the text must equal the answer without its mark.
    /// </summary>
    public static WeightedReward Reward() => new(new DelegateReward("exact_answer",
        input => input.Completion.Count > 0 && input.Completion[^1] == End
            && input.Text == ((ArithmeticProblem)input.TaskData!).Answer[..^1] ? 1f : 0f));

    /// <summary>The task behind the generic experiment code (<see cref="IProblemTask"/>).</summary>
    public static IProblemTask AsTask { get; } = new Definition();

    sealed class Definition : IProblemTask
    {
        public string Name => "two-digit arithmetic";
        public CharTokenizer Tokenizer => ArithmeticTask.Tokenizer;
        public int PromptLength => ArithmeticTask.PromptLength;
        public int AnswerLength => ArithmeticTask.AnswerLength;
        public int End => ArithmeticTask.End;
        public ArithmeticProblem Train(ulong index) => ArithmeticTask.Train(index);
        public ArithmeticProblem HeldOut(ulong index) => ArithmeticTask.HeldOut(index);
        public bool Solves(ArithmeticProblem problem, string completion) => completion == problem.Answer;
        public WeightedReward Reward() => ArithmeticTask.Reward();
    }
}
