using Engine.Model.Tokenizers;
using Engine.Rl.Rewards;

namespace Engine.Rl.Tasks;

/// <summary>
/// A task of fixed-length prompts with one checkable answer each, drawn from two disjoint streams: training problems for the
/// supervised and RL phases, and held-out problems for evaluation only.
/// </summary>
public interface IProblemTask
{
    /// <summary>The task's name in logs and plots.</summary>
    string Name { get; }

    /// <summary>The character tokenizer of its alphabet.</summary>
    CharTokenizer Tokenizer { get; }

    /// <summary>Tokens in every prompt.</summary>
    int PromptLength { get; }

    /// <summary>Tokens in every well-formed completion, the end mark included.</summary>
    int AnswerLength { get; }

    /// <summary>The token that ends a completion.</summary>
    int End { get; }

    /// <summary>Training problem <paramref name="index"/> (a pure function of it), never a held-out one.</summary>
    ArithmeticProblem Train(ulong index);

    /// <summary>Held-out problem <paramref name="index"/> (a pure function of it).</summary>
    ArithmeticProblem HeldOut(ulong index);

    /// <summary>Whether a completion's text (end mark included) solves the problem: what the reward pays 1 for.</summary>
    bool Solves(ArithmeticProblem problem, string completion);

    /// <summary>The outcome reward: 1 when the completion solves the problem (the problem rides as the prompt's task data), else 0.</summary>
    WeightedReward Reward();
}
