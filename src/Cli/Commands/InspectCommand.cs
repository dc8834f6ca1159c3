using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Rl.Grpo;
using Engine.Rl.Trie;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine inspect FILE [--json]</c>: the prefix trie of each group in a JSON file, with |λ|, the
/// implicit PRM's step rewards R and advantages A (docs/science.md §1–§5).
/// </summary>
static class InspectCommand
{
    static readonly Argument<string> GroupsFile = new("FILE")
    {
        Description = "a JSON object {\"groups\": [{\"prompt\": [ids], \"completions\": [[ids], …], \"rewards\": [numbers]}, …]}",
    };
    static readonly Option<bool> Json = CliOptions.Flag("json", "print one JSON object, {\"groups\":[…]}");

    sealed record Group(int[] Prompt, int[][] Completions, float[] Rewards);

    public static Command Build()
    {
        var command = new Command("inspect", "the prefix trie of each group, with |λ|, the implicit PRM's step rewards and advantages")
        {
            GroupsFile, Json,
        };
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult args)
    {
        bool json = args.GetValue(Json);
        string file = args.GetValue(GroupsFile)!;
        var (groups, epsilon, scale) = Parse(InputFile.ReadAllText(file, "inspect: file"), file);

        var output = new JsonArray();
        var text = new StringBuilder();
        for (int g = 0; g < groups.Length; g++)
        {
            var group = groups[g];
            var trie = PrefixTrie.Build(group.Prompt, group.Completions);
            var (mean, factor) = GroupAdvantages.Moments(group.Rewards, scale, epsilon);
            var advantages = group.Rewards.Select(r => (r - mean) * factor).ToArray();
            var (reward, adv) = trie.ProcessRewards(group.Rewards, scale, epsilon);
            var completions = new JsonArray();
            for (int i = 0; i < group.Completions.Length; i++)
                completions.Add(new JsonObject
                {
                    ["lambda"] = new JsonArray(trie.Lambda[i].Select(l => (JsonNode)l).ToArray()),
                    ["prm_reward"] = new JsonArray(reward[i].Select(v => (JsonNode)v).ToArray()),
                    ["prm_advantage"] = new JsonArray(adv[i].Select(v => (JsonNode)v).ToArray()),
                });
            output.Add(new JsonObject
            {
                ["advantages"] = new JsonArray(advantages.Select(a => (JsonNode)a).ToArray()),
                ["completions"] = completions,
                ["steps"] = trie.Steps.Count,
                ["path_depth_mean"] = trie.PathDepthMean,
                ["intermediate_proportion_mean"] = trie.IntermediateProportionMean,
            });
            if (!json) Describe(text, g, group, trie, advantages, reward, adv);
        }
        if (json) Console.WriteLine(new JsonObject { ["groups"] = output }.ToJsonString());
        else Console.Write(text.ToString());
        return 0;
    }

    static void Describe(StringBuilder s, int g, Group group, PrefixTrie trie, double[] advantages, double[][] reward, double[][] adv)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine(inv, $"group {g}: prompt [{string.Join(",", group.Prompt)}], {group.Completions.Length} completions, " +
            $"{trie.Steps.Count} process steps, " +
            $"path depth {trie.PathDepthMean:F2}, intermediate proportion {trie.IntermediateProportionMean:F3}");
        s.AppendLine(inv, $"  rewards    [{string.Join(", ", group.Rewards.Select(r => r.ToString("G4", inv)))}]");
        s.AppendLine(inv, $"  advantages [{string.Join(", ", advantages.Select(a => a.ToString("+0.000;-0.000;0.000", inv)))}]");
        s.AppendLine("  prompt");
        var children = trie.Steps.ToLookup(st => st.Parent);
        // Depth first with an explicit stack: a deep trie must not overflow the call stack.
        var open = new Stack<(ProcessStep[] Kids, int Next, string Indent)>();
        open.Push((children[-1].ToArray(), 0, "  "));
        while (open.Count > 0)
        {
            var (kids, next, indent) = open.Pop();
            if (next == kids.Length) continue;
            open.Push((kids, next + 1, indent));
            var st = kids[next];
            bool last = next == kids.Length - 1;
            int i = st.Trajectories[0];
            s.AppendLine(inv, $"{indent}{(last ? "└─ " : "├─ ")}[{string.Join(",", st.Tokens)}]  |λ|={st.Count}  " +
                $"R={reward[i][st.Start]:0.###}  A={adv[i][st.Start]:+0.000;-0.000;0.000}  trajectories {{{string.Join(",", st.Trajectories)}}}");
            open.Push((children[st.Id].ToArray(), 0, indent + (last ? "   " : "│  ")));
        }
    }

    static (Group[] Groups, float Epsilon, bool Scale) Parse(string content, string file)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(content, documentOptions: InputFile.StrictJson());
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"inspect: {file} is not valid JSON: {e.Message}");
        }
        if (root is not JsonObject obj) throw new ArgumentException($"inspect: {file} must hold a JSON object with a \"groups\" array");
        float epsilon = 1e-4f;
        if (obj["std_epsilon"] is { } eps)
        {
            epsilon = (float)Number(eps, "std_epsilon");
            if (!(epsilon >= 0)) throw new ArgumentException($"inspect: std_epsilon must be ≥ 0, got {epsilon}");
        }
        bool scale = true;
        if (obj["scale_rewards"] is { } sr)
        {
            if (sr.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                throw new ArgumentException("inspect: scale_rewards must be true or false");
            scale = sr.GetValue<bool>();
        }
        if (obj["groups"] is not JsonArray groups) throw new ArgumentException("inspect: missing \"groups\" array");
        var result = new Group[groups.Count];
        for (int g = 0; g < groups.Count; g++)
        {
            string at = $"groups[{g}]";
            if (groups[g] is not JsonObject group) throw new ArgumentException($"inspect: {at} must be an object");
            var prompt = Ids(group["prompt"], $"{at}.prompt");
            if (group["completions"] is not JsonArray completions)
                throw new ArgumentException($"inspect: {at}.completions must be an array of token-id arrays");
            var c = completions.Select((x, i) => Ids(x, $"{at}.completions[{i}]")).ToArray();
            if (group["rewards"] is not JsonArray rewards) throw new ArgumentException($"inspect: {at}.rewards must be an array of numbers");
            var r = rewards.Select((x, i) => (float)Number(x, $"{at}.rewards[{i}]")).ToArray();
            if (r.Length != c.Length) throw new ArgumentException($"inspect: {at}.rewards has {r.Length} values for {c.Length} completions");
            if (c.Length == 0) throw new ArgumentException($"inspect: {at}.completions is empty");
            result[g] = new Group(prompt, c, r);
        }
        return (result, epsilon, scale);
    }

    static int[] Ids(JsonNode? node, string at)
    {
        if (node is not JsonArray a) throw new ArgumentException($"inspect: {at} must be an array of token ids");
        var ids = new int[a.Count];
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue(out int id))
            {
                if (a[i] is JsonValue dv && dv.GetValueKind() == JsonValueKind.Number && dv.TryGetValue(out double d) && d == Math.Floor(d)
                    && d >= int.MinValue && d <= int.MaxValue) id = (int)d;
                else throw new ArgumentException($"inspect: {at}[{i}] is not an integer token id: {a[i]?.ToJsonString() ?? "null"}");
            }
            if (id < 0) throw new ArgumentException($"inspect: {at}[{i}] is a negative token id ({id})");
            ids[i] = id;
        }
        return ids;
    }

    static double Number(JsonNode? node, string at)
    {
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue(out double d))
            throw new ArgumentException($"inspect: {at} must be a number, got {node?.ToJsonString() ?? "null"}");
        if (!(Math.Abs(d) <= float.MaxValue)) throw new ArgumentException($"inspect: {at} is {v.ToJsonString()}, beyond float32's range");
        return d;
    }
}
