using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Engine.Autograd.Optimizers;

namespace Engine.Model.Checkpoints;

/// <summary>
/// Saves and loads a <see cref="Gpt"/> as a Hugging Face GPT-2 model directory: <c>config.json</c>
/// (<c>vocab_size</c>, <c>n_positions</c>, <c>n_embd</c>, <c>n_layer</c>, <c>n_head</c>,
/// <c>layer_norm_epsilon</c>) and <c>model.safetensors</c> with GPT-2's tensor names, so the directory
/// loads in <c>GPT2LMHeadModel.from_pretrained</c> and a GPT-2 checkpoint loads here. Loading accepts
/// names with or without the <c>transformer.</c> prefix, skips the causal-mask buffers
/// (<c>h.{i}.attn.bias</c>, <c>h.{i}.attn.masked_bias</c>) and the tied <c>lm_head.weight</c>, and demands
/// every parameter exactly once with the shape the config implies. An optimizer's state can sit beside
/// the model in <c>optimizer.safetensors</c>. Every file is replaced atomically.
/// </summary>
public static partial class Gpt2Checkpoint
{
    /// <summary>The configuration file.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The optimizer state file.</summary>
    public const string OptimizerFileName = "optimizer.safetensors";

    const string Prefix = "transformer.";

    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$", RegexOptions.CultureInvariant)]
    private static partial Regex MaskBuffer();

    /// <summary>Writes <paramref name="model"/>'s configuration and weights to <paramref name="directory"/> (created if needed).</summary>
    public static void Save(Gpt model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        Directory.CreateDirectory(directory);
        SaveWeights(model, Path.Combine(directory, WeightsFileName));
        WriteConfig(model.Config, directory);
    }

    /// <summary>Writes <paramref name="model"/>'s parameters, with GPT-2's names, to the safetensors file <paramref name="path"/>.</summary>
    public static void SaveWeights(Gpt model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = model.Parameters
            .Select(p => SafeTensorEntry.Float32(p.Key, p.Value.Value.Shape.ToArray(), () => p.Value.Value.ToArray())).ToList();
        SafeTensors.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// The model directory <paramref name="directory"/> stands for: itself when it holds a <c>config.json</c>, or the
    /// final model (<c>model/</c>) of the run it holds. A directory that does not exist is an error naming it.
    /// </summary>
    public static string ResolveDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException(InputFile.DescribeNonDirectory(directory) is { } what
                ? $"model '{directory}' {what}; expected a model directory" : $"model directory '{directory}' not found");
        string final = Path.Combine(directory, RunDirectory.ModelDirectoryName);
        return !File.Exists(Path.Combine(directory, ConfigFileName)) && File.Exists(Path.Combine(final, ConfigFileName)) ? final : directory;
    }

    /// <summary>
    /// Creates a model from the directory's <c>config.json</c> and <c>model.safetensors</c>. Before it allocates
    /// anything it checks that the weights file holds every parameter with the shape the config implies, and that
    /// the parameters fit in the memory available; values that are not finite are an error naming the tensor.
    /// </summary>
    public static Gpt Load(string directory, Device? device = null)
    {
        directory = ResolveDirectory(directory);
        var config = ReadConfig(directory);
        string path = Path.Combine(directory, WeightsFileName);
        using var reader = SafeTensorsReader.Open(path);
        var byParameter = Match(config, reader);
        HostMemory.Require(Gpt.CountParameters(config) * (double)sizeof(float),
            $"gpt2 checkpoint {directory}: the model of {config.Layers} layers, width {config.Width} and vocabulary {config.VocabSize}");
        var model = new Gpt(config, device: device);
        try
        {
            Copy(model, reader, byParameter);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Overwrites every parameter of <paramref name="model"/> from a GPT-2 safetensors file.</summary>
    public static void LoadWeights(Gpt model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var reader = SafeTensorsReader.Open(path);
        Copy(model, reader, Match(model.Config, reader));
    }

    /// <summary>
    /// Which tensor of <paramref name="reader"/> holds each parameter of <paramref name="config"/>; every shape and dtype checked.
    /// </summary>
    static Dictionary<string, SafeTensorInfo> Match(GptConfig config, SafeTensorsReader reader)
    {
        string path = reader.Path;
        // Counted before the shapes are listed: a config claiming 10⁹ layers must not build 10⁹ entries first. Within a
        // layer of the count, the comparison below names the missing tensors instead.
        long parameters = 4 + 12L * config.Layers;
        if (parameters > reader.Tensors.Count + 12)
            throw new CheckpointException($"gpt2 checkpoint {path}: holds {reader.Tensors.Count} tensors, " +
                $"but n_layer {config.Layers} in {ConfigFileName} " +
                $"needs {parameters} parameter tensors; the config does not belong to these weights");
        var expected = Gpt.ParameterShapes(config).ToDictionary(p => p.Name, p => p.Shape, StringComparer.Ordinal);
        var byParameter = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var wte = expected["wte.weight"];
        foreach (var t in reader.Tensors)
        {
            string name = t.Name.StartsWith(Prefix, StringComparison.Ordinal) ? t.Name[Prefix.Length..] : t.Name;
            if (MaskBuffer().IsMatch(name)) continue;
            if (name == "lm_head.weight")
            {
                if (!t.Shape.AsSpan().SequenceEqual(wte))
                    throw new CheckpointException($"gpt2 checkpoint {path}: tensor '{t.Name}' (tied to wte.weight) has shape {t.ShapeText}, " +
                        $"expected {SafeTensors.FormatShape(wte)}");
                continue;
            }
            if (!expected.TryGetValue(name, out var shape))
                throw new CheckpointException($"gpt2 checkpoint {path}: unexpected tensor '{t.Name}' " +
                    $"(no such parameter in the {config.Layers}-layer GPT-2 of {ConfigFileName})");
            if (byParameter.TryGetValue(name, out var other))
                throw new CheckpointException($"gpt2 checkpoint {path}: parameter '{name}' is present twice (as '{other.Name}' and '{t.Name}')");
            if (!t.Shape.AsSpan().SequenceEqual(shape))
                throw new CheckpointException($"gpt2 checkpoint {path}: tensor '{t.Name}' has shape {t.ShapeText}, " +
                    $"expected {SafeTensors.FormatShape(shape)} from {ConfigFileName}");
            if (!t.DType.IsFloat())
                throw new CheckpointException($"gpt2 checkpoint {path}: tensor '{t.Name}' has dtype {t.DType}, expected a floating-point type");
            byParameter[name] = t;
        }
        var missing = expected.Keys.Where(k => !byParameter.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new CheckpointException($"gpt2 checkpoint {path}: missing tensor{(missing.Count > 1 ? "s" : "")} " +
                $"{string.Join(", ", missing.Take(8).Select(m => $"'{m}'"))}{(missing.Count > 8 ? $" and {missing.Count - 8} more" : "")}");
        return byParameter;
    }

    static void Copy(Gpt model, SafeTensorsReader reader, Dictionary<string, SafeTensorInfo> byParameter)
    {
        foreach (var (name, t) in byParameter)
        {
            var data = reader.ReadFloats(t.Name);
            int bad = Array.FindIndex(data, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new CheckpointException(
                    $"gpt2 checkpoint {reader.Path}: tensor '{t.Name}' holds {data[bad]} at element {bad}; every weight must be finite");
            model[name].Value.CopyFrom(data);
        }
    }

    /// <summary>Reads a Hugging Face GPT-2 <c>config.json</c> from <paramref name="directory"/>.</summary>
    public static GptConfig ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFileName);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(InputFile.ReadAllText(path, "gpt2 config"), documentOptions: InputFile.StrictJson(16));
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"gpt2 config {path}: not valid JSON: {e.Message}", e);
        }
        if (root is not JsonObject json) throw new CheckpointException($"gpt2 config {path}: not a JSON object");

        int Int(string key, string? fallback = null)
        {
            var node = json[key] ?? (fallback is null ? null : json[fallback]);
            if (node is null) throw new CheckpointException($"gpt2 config {path}: missing '{key}'");
            if (node is not JsonValue v || !v.TryGetValue(out int value))
                throw new CheckpointException($"gpt2 config {path}: '{key}' is not a 32-bit integer: {node.ToJsonString()}");
            return value;
        }

        float epsilon = 1e-5f;
        if (json["layer_norm_epsilon"] is { } eps)
        {
            if (eps is not JsonValue ev || !ev.TryGetValue(out double e))
                throw new CheckpointException($"gpt2 config {path}: 'layer_norm_epsilon' is not a number: {eps.ToJsonString()}");
            if (!(e > 0 && e <= float.MaxValue && (float)e > 0))
                throw new CheckpointException(
                    $"gpt2 config {path}: 'layer_norm_epsilon' is {eps.ToJsonString()}; it must be positive and within float32's range");
            epsilon = (float)e;
        }
        if (json["activation_function"] is { } act)
        {
            string? name = act is JsonValue av && av.TryGetValue(out string? s) ? s : null;
            if (name is not ("gelu_new" or "gelu_pytorch_tanh"))
                throw new CheckpointException(
                    $"gpt2 config {path}: 'activation_function' is {act.ToJsonString()}; only the tanh GELU (gelu_new) is implemented");
        }
        var config = new GptConfig(Int("vocab_size"), Int("n_positions", "n_ctx"), Int("n_embd"), Int("n_layer"), Int("n_head"), epsilon);
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"gpt2 config {path}: {e.Message}", e);
        }
        return config;
    }

    /// <summary>Writes <paramref name="config"/> as a Hugging Face GPT-2 <c>config.json</c> in <paramref name="directory"/>.</summary>
    public static void WriteConfig(GptConfig config, string directory)
    {
        ArgumentNullException.ThrowIfNull(config);
        var json = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["vocab_size"] = config.VocabSize,
            ["n_positions"] = config.ContextLength,
            ["n_ctx"] = config.ContextLength,
            ["n_embd"] = config.Width,
            ["n_layer"] = config.Layers,
            ["n_head"] = config.Heads,
            // float → double through its shortest text, so 1e-5f is written as 1e-05 and not 9.99999974737875E-06.
            ["layer_norm_epsilon"] = double.Parse(config.LayerNormEpsilon.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            ["activation_function"] = "gelu_new",
            ["tie_word_embeddings"] = true,
        };
        AtomicFile.WriteText(Path.Combine(directory, ConfigFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>
    /// Writes <paramref name="optimizer"/>'s state to <c>optimizer.safetensors</c> in <paramref name="directory"/>: one 1-D tensor per
    /// <see cref="Optimizer.ExportState"/> key (<c>step</c> and <c>lr</c> hold one element).
    /// </summary>
    public static void SaveOptimizer(Optimizer optimizer, string directory)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var state = optimizer.ExportState();
        var tensors = state.Select(kv => SafeTensorEntry.Float32(kv.Key, [kv.Value.Length], kv.Value)).ToList();
        SafeTensors.Write(Path.Combine(directory, OptimizerFileName), tensors, new Dictionary<string, string> { ["format"] = "engine-optimizer" });
    }

    /// <summary>Restores <paramref name="optimizer"/>'s state from <c>optimizer.safetensors</c> in <paramref name="directory"/>.</summary>
    public static void LoadOptimizer(Optimizer optimizer, string directory)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        string path = Path.Combine(directory, OptimizerFileName);
        var state = SafeTensors.ReadAllFloats(path);
        try
        {
            optimizer.ImportState(state);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException($"optimizer state {path}: {e.Message}", e);
        }
    }
}
