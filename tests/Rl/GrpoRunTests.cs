using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Model.Tokenizers;
using Engine.Rl.Rewards;
using Engine.Rl.Runs;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>`engine grpo run` as a user runs it: a config, a model directory, prompts, rewards; stop, resume, plots.</summary>
public sealed class GrpoRunTests
{
    static readonly GptConfig Micro = new(VocabSize: 8, ContextLength: 12, Width: 16, Layers: 1, Heads: 2);
    static readonly CharTokenizer Chars = new(["^", "0", "1", "2", "3", "+", "=", ";"]);

    /// <summary>A model directory, prompts and eval prompts, and a config over them with <paramref name="settings"/> added.</summary>
    internal static string Setup(TempDirectory dir, string settings = "")
    {
        string model = dir.File("start");
        using (var gpt = new Gpt(Micro, seed: 3)) Gpt2Checkpoint.Save(gpt, model);
        Chars.Save(model);
        var lines = from a in Enumerable.Range(0, 4) from b in Enumerable.Range(0, 4) where a + b < 4
                    select JsonSerializer.Serialize(new { prompt = $"^{a}+{b}=", answer = $"{a + b}", tag = a });
        File.WriteAllLines(dir.File("prompts.jsonl"), lines);
        File.WriteAllLines(dir.File("eval.jsonl"), lines.Take(4));
        string config = dir.File("tiny.json");
        File.WriteAllText(config, $$"""
            {"model": "start", "prompts": "prompts.jsonl",
             "rewards": [{"type": "exact", "field": "answer"},
                         {"type": "contains", "text": "1", "weight": 0.5}, {"type": "count", "text": "2", "weight": -0.1}],
             "group_size": 4, "prompts_per_step": 2, "steps": 4, "max_new_tokens": 3, "stop": [";"], "learning_rate": 0.01,
             "checkpoint_every": 2, "keep_checkpoints": 1, "eval": {"prompts": "eval.jsonl", "every": 2}, "seed": 5{{settings}}}
            """);
        return config;
    }

    static GrpoRunResult Run(string config, string outDir, int? steps = null, bool resume = false, bool force = false) =>
        GrpoRun.Execute(GrpoRunConfig.Load(config), new GrpoRunOptions(outDir, steps, resume, force));

    static string[] MetricsWithoutSeconds(string run) =>
        [.. File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l =>
        {
            var json = JsonNode.Parse(l)!.AsObject();
            Assert.True(json.Remove("seconds"), "every line has seconds");
            return json.ToJsonString();
        })];

    [Theory]
    [InlineData("")]
    [InlineData(""", "lambda": true, "mu": 2, "beta": 0.05, "loss": "seq-mean", "lr_schedule": "cosine", "warmup_steps": 1""")]
    [InlineData(""", "scale_rewards": "batch", "mask_truncated": true, "drop_zero_std_groups": true, "temperature": 0.7, "top_k": 5""")]
    public void AResumedRunLogsTheSameLinesAndEndsWithTheSameBytes(string settings)
    {
        using var dir = new TempDirectory();
        string config = Setup(dir, settings);
        var straight = Run(config, dir.File("straight"));
        Assert.Equal(4, straight.Steps);
        Run(config, dir.File("stopped"), steps: 1);
        Assert.Equal(1, new CheckpointStore(dir.File("stopped")).Latest()!.Step);
        var resumed = Run(config, dir.File("stopped"), resume: true);
        Assert.Equal(4, resumed.Steps);
        Assert.Equal(MetricsWithoutSeconds(dir.File("straight")), MetricsWithoutSeconds(dir.File("stopped")));
        foreach (var file in new[] { "model/model.safetensors", "model/config.json", "model/char-tokenizer.json" })
            Assert.True(File.ReadAllBytes(Path.Combine(dir.File("straight"), file)).AsSpan()
                .SequenceEqual(File.ReadAllBytes(Path.Combine(dir.File("stopped"), file))), file);
    }

    [Fact]
    public void TheRunWritesMetricsPlotsCheckpointsAndAModelThatLoads()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        Run(Setup(dir), run);
        var lines = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal(4, lines.Length);
        var first = JsonNode.Parse(lines[0])!.AsObject();
        string[] required = ["step", "reward_mean", "reward_std", "reward/0", "reward/1", "reward/2", "loss", "kl", "clip_fraction", "entropy",
            "grad_norm", "learning_rate", "lambda_mean", "path_depth", "intermediate_proportion", "zero_std_groups", "truncated_fraction",
            "packed_share", "tokens", "seconds"];
        Assert.All(required, k => Assert.True(first.ContainsKey(k), k));
        Assert.False(first.ContainsKey("eval/reward_mean"));
        Assert.True(JsonNode.Parse(lines[1])!.AsObject().ContainsKey("eval/reward_mean"));
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal(5, csv.Length);
        Assert.Contains("eval/reward_mean", csv[0]);
        Assert.Empty(Directory.EnumerateFiles(run, "*.svg")); // the library writes data; the CLI draws the plots (CommandLineTests)
        Assert.Equal([4], new CheckpointStore(run).Sets.Select(s => s.Step).ToArray());
        using var model = Gpt2Checkpoint.Load(run);
        Assert.Equal(Micro, model.Config);
        Assert.NotNull(Tokenizer.Load(Path.Combine(run, "model")));
        // A new run into it is refused; --force replaces it; --steps extends it.
        Assert.Contains("already holds a run", Assert.Throws<IOException>(() => Run(Setup(dir), run)).Message);
        Assert.Equal(6, Run(Setup(dir), run, steps: 6, resume: true).Steps);
        Assert.Equal(6, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Length);
    }

    [Theory]
    [InlineData("\"group_sise\": 4", "unknown key 'group_sise'", "valid keys: model, prompts, rewards, group_size")]
    [InlineData("\"group_size\": 0", "'group_size' must be an integer in [1, 4096], got 0", "")]
    [InlineData("\"temperature\": \"hot\"", "'temperature' must be a number", "")]
    [InlineData("\"loss\": \"sum\"", "'loss' must be one of \"seq-mean\", \"token-mean\", \"dr-grpo\"", "")]
    [InlineData("\"rewards\": [{\"type\": \"exact\"}]", "rewards[0]: needs 'field'", "")]
    [InlineData("\"rewards\": [{\"type\": \"exact\", \"field\": \"answer\", \"feild\": 1}]", "unknown key 'feild'",
        "it takes 'field', 'type', 'weight'")]
    [InlineData("\"rewards\": [{\"type\": \"regex\", \"pattern\": \"(\"}]", "'pattern' is not a valid regular expression", "")]
    [InlineData("\"rewards\": [{\"type\": \"lookup\"}]", "unknown reward type 'lookup'", "known: contains, count, exact, regex")]
    [InlineData("\"eval\": {\"prompts\": \"eval.jsonl\", \"each\": 2}", "eval: unknown key 'each'", "")]
    [InlineData("\"stop\": [\"\"]", "'stop' must be a list of non-empty strings", "")]
    [InlineData("\"temperature\": 1e-39", "'temperature' must be a number in [1E-06", "")]
    [InlineData("\"group_size\": null", "'group_size' is null", "")]
    public void ABadConfigIsRefusedNamingTheFileAndTheKey(string change, string message, string more)
    {
        using var dir = new TempDirectory();
        string config = Setup(dir);
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        var patch = JsonNode.Parse("{" + change + "}")!.AsObject();
        foreach (var (key, value) in patch.ToList())
        {
            patch.Remove(key);
            json[key] = value;
        }
        if (change.StartsWith("\"group_sise\"", StringComparison.Ordinal)) json.Remove("group_size");
        File.WriteAllText(config, json.ToJsonString());
        var e = Assert.Throws<ArgumentException>(() => GrpoRunConfig.Load(config));
        Assert.Contains(config, e.Message);
        Assert.Contains(message, e.Message);
        Assert.Contains(more, e.Message);
    }

    [Fact]
    public void MalformedPromptsAreRefusedNamingTheFileAndTheLine()
    {
        using var dir = new TempDirectory();
        string config = Setup(dir);
        File.AppendAllText(dir.File("prompts.jsonl"), "\n{\"prompt\": 7}\n");
        var e = Assert.Throws<ArgumentException>(() => Run(config, dir.File("run")));
        Assert.Contains($"{dir.File("prompts.jsonl")}:12", e.Message);
        Assert.Contains("needs a \"prompt\" string", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));
        File.WriteAllText(dir.File("prompts.jsonl"), "{\"prompt\": \"^1+1=\"}\n{\"prompt\": \"^1+1=\"\n");
        Assert.Contains(":2: not valid JSON", Assert.Throws<ArgumentException>(() => Run(config, dir.File("run"))).Message);
        // A record without the field a reward reads is refused before the run starts, naming the line.
        File.WriteAllText(dir.File("prompts.jsonl"), "{\"prompt\": \"^1+1=\", \"answer\": \"2\"}\n{\"prompt\": \"^1+2=\"}\n");
        e = Assert.Throws<ArgumentException>(() => Run(config, dir.File("run")));
        Assert.Contains(":2: has no field 'answer', which rewards[0]", e.Message);
        File.WriteAllText(dir.File("prompts.jsonl"), "{\"prompt\": \"^1+x=\", \"answer\": \"2\"}\n");
        e = Assert.Throws<ArgumentException>(() => Run(config, dir.File("run")));
        Assert.Contains($"{dir.File("prompts.jsonl")}:1: the prompt cannot be tokenized", e.Message);
        Assert.DoesNotContain("(Parameter", e.Message);
        // A lone surrogate, and a character whose message would break the line.
        File.WriteAllText(dir.File("prompts.jsonl"), "{\"prompt\": \"^1+1=\\ud800\", \"answer\": \"2\"}\n");
        Assert.Contains($"{dir.File("prompts.jsonl")}:1:", Assert.Throws<ArgumentException>(() => Run(config, dir.File("run"))).Message);
        File.WriteAllText(dir.File("prompts.jsonl"), "{\"prompt\": \"^1\\n1=\", \"answer\": \"2\"}\n");
        e = Assert.Throws<ArgumentException>(() => Run(config, dir.File("run")));
        Assert.Contains("U+000A", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        string text = File.ReadAllText(config);
        File.WriteAllText(config, text.Replace("\"text\": \"1\"", "\"text\": \"\\ud800\"", StringComparison.Ordinal));
        e = Assert.Throws<ArgumentException>(() => GrpoRunConfig.Load(config));
        Assert.Contains(config, e.Message);
        Assert.Contains("surrogate", e.Message);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void ForceNeverDeletesTheRunsOwnInputsAndResumeChecksTheCommand()
    {
        using var dir = new TempDirectory();
        string config = Setup(dir);
        string run = dir.File("run");
        Run(config, run, steps: 1);
        // A config whose model lives inside the run it would replace.
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        json["model"] = "run";
        File.WriteAllText(config, json.ToJsonString());
        var e = Assert.Throws<IOException>(() => Run(config, run, force: true));
        Assert.Contains("is inside it", e.Message);
        Assert.True(File.Exists(Path.Combine(run, "model", "model.safetensors")));
        // A train-lm run is not a grpo run.
        string lm = dir.File("lm");
        using (var r = RunDirectory.Create("train-lm", lm, force: false)) { }
        Assert.Contains("holds a run of 'train-lm'", Assert.Throws<IOException>(() => Run(Setup(dir), lm, resume: true)).Message);
    }

    [Fact]
    public void AStepWithNothingToTrainLogsItsPolicyStatisticsAsNull()
    {
        using var dir = new TempDirectory();
        // Every completion scores the same, and such groups are dropped: nothing carries weight.
        string config = Setup(dir, """, "drop_zero_std_groups": true""");
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        json["rewards"] = JsonNode.Parse("""[{"type": "count", "text": "no such text"}]""");
        File.WriteAllText(config, json.ToJsonString());
        Run(config, dir.File("run"));
        var first = JsonNode.Parse(File.ReadAllLines(Path.Combine(dir.File("run"), "metrics.jsonl"))[0])!.AsObject();
        Assert.Equal(2, (int)first["zero_std_groups"]!);
        foreach (var key in new[] { "loss", "grad_norm", "entropy", "kl", "clip_fraction" })
            Assert.True(first.ContainsKey(key) && first[key] is null, key);
    }

    [Fact]
    public void AThrowingRewardNamesThePromptAndTheCompletionAndUpdatesNothing()
    {
        RewardTypes.Register("test-explode", spec =>
        {
            string when = spec.RequireString("when");
            return new DelegateReward("explode",
                input => input.Text!.Contains(when, StringComparison.Ordinal) ? throw new InvalidOperationException("boom") : 0f);
        });
        using var dir = new TempDirectory();
        string config = Setup(dir);
        var json = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        json["rewards"] = JsonNode.Parse("""[{"type": "test-explode", "when": ""}]""");
        File.WriteAllText(config, json.ToJsonString());
        string run = dir.File("run");
        var e = Assert.Throws<RewardException>(() => Run(config, run));
        Assert.Contains("reward 'explode' threw for prompt", e.Message);
        Assert.Contains("and completion [", e.Message);
        Assert.Contains("boom", e.Message);
        Assert.Empty(new CheckpointStore(run).Sets);
        Assert.Equal("", File.ReadAllText(Path.Combine(run, "metrics.jsonl")));
    }

    [Fact]
    public void TheArithmeticExampleRunsAtTinySize()
    {
        // examples/arithmetic as its README says, with a few steps: warm up with train-lm, then GRPO and λ-GRPO from that start.
        using var dir = new TempDirectory();
        string example = Path.Combine(AppContext.BaseDirectory, "examples", "arithmetic");
        foreach (var file in Directory.EnumerateFiles(example).Where(f => f.EndsWith(".json", StringComparison.Ordinal)
            || f.EndsWith(".jsonl", StringComparison.Ordinal) || f.EndsWith(".txt", StringComparison.Ordinal)))
            File.Copy(file, dir.File(Path.GetFileName(file)));
        var (exit, log) = ChildProcess.Run("engine",
            ["train-lm", "--text", dir.File("train.txt"), "--steps", "2", "--batch", "2", "--out", dir.File("sft")], [], 300);
        Assert.True(exit == 0, log);
        foreach (var name in new[] { "arith-grpo", "arith-lambda" })
        {
            (exit, log) = ChildProcess.Run("engine",
                ["grpo", "run", "--config", dir.File($"{name}.json"), "--steps", "2", "--out", dir.File(name)], [], 300);
            Assert.True(exit == 0, log);
            Assert.Contains("step 2: reward", log);
            Assert.Equal(2, File.ReadAllLines(Path.Combine(dir.File(name), "metrics.jsonl")).Length);
        }
    }
}
