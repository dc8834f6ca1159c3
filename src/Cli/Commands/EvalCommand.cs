using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Autograd;
using Engine.Model;
using Engine.Model.Checkpoints;

namespace Engine.Cli.Commands;

/// <summary>
/// <c>engine eval --model DIR --tokens FILE.json [--json]</c>: the mean next-token cross-entropy of the
/// model over every predicted position of equal-length token rows.
/// </summary>
static class EvalCommand
{
    static readonly Option<string?> ModelDir = CliOptions.Path("model", "the model directory (config.json, model.safetensors)", "DIR",
        required: true);
    static readonly Option<string?> Tokens = CliOptions.Path("tokens", "a JSON array of equal-length token-id rows", "FILE.json",
        required: true);
    static readonly Option<bool> Json = CliOptions.Flag("json", "print one JSON object, {\"loss\":…,\"predictions\":…}");
    static readonly Option<string> DeviceName = CliOptions.Device();

    public static Command Build()
    {
        var command = new Command("eval", "the mean next-token cross-entropy of a model over token rows") { ModelDir, Tokens, Json, DeviceName };
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult args)
    {
        string dir = args.GetValue(ModelDir)!, file = args.GetValue(Tokens)!;
        bool json = args.GetValue(Json);
        var device = Device.Parse(args.GetValue(DeviceName)!);

        int[][] rows = ReadRows(file);
        dir = Gpt2Checkpoint.ResolveDirectory(dir);
        using var model = Gpt2Checkpoint.Load(dir, device);
        int length = rows[0].Length;
        HostMemory.Require(Gpt.ActivationBytes(model.Config, Math.Min(rows.Length, 16), length, training: false),
            $"eval: batches of {Math.Min(rows.Length, 16)} rows of {length} tokens");
        if (length > model.Config.ContextLength + 1)
            throw new ArgumentException(
                $"eval: rows of {length} tokens need a context of {length - 1}, but the model's is {model.Config.ContextLength}");
        foreach (var id in rows.SelectMany(r => r))
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new ArgumentException($"eval: token {id} is outside the vocabulary [0, {model.Config.VocabSize})");

        double total = 0;
        long predictions = 0;
        const int batch = 16;
        using (GradMode.NoGrad())
            for (int start = 0; start < rows.Length; start += batch)
            {
                using var scope = TensorScope.Open();
                var chunk = rows.Skip(start).Take(batch).ToArray();
                var shape = new Shape(chunk.Length, length - 1);
                var x = Tensor.FromInts(chunk.SelectMany(r => r[..^1]).ToArray(), shape, device);
                var y = Tensor.FromInts(chunk.SelectMany(r => r[1..]).ToArray(), shape, device);
                var loss = Gpt.Loss(model.Forward(x), y).Value.ToScalar();
                total += (double)loss * shape.Numel;
                predictions += shape.Numel;
            }
        double mean = total / predictions;
        if (!double.IsFinite(mean))
            throw new InvalidOperationException($"eval: the mean cross-entropy of {dir} on {file} is {mean}: the model's outputs are not finite");
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["loss"] = mean, ["predictions"] = predictions }));
        else
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mean next-token cross-entropy {mean:F6} nats over {predictions} predictions ({rows.Length} rows of {length} tokens)"));
        return 0;
    }

    static int[][] ReadRows(string file)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(InputFile.ReadAllText(file, "eval: token file"), InputFile.StrictJson()).RootElement;
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"eval: {file} is not valid JSON: {e.Message}");
        }
        if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() == 0)
            throw new ArgumentException($"eval: {file} must hold a non-empty JSON array of token-id arrays");
        var rows = new List<int[]>();
        foreach (var row in root.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array) throw new ArgumentException($"eval: row {rows.Count} of {file} is not an array");
            var ids = new List<int>();
            foreach (var v in row.EnumerateArray())
            {
                // As inspect and grpo run read ids: 3 and 3.0 are the same id.
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || value != Math.Floor(value)
                    || value is < int.MinValue or > int.MaxValue)
                    throw new ArgumentException($"eval: row {rows.Count} of {file} holds a value that is not an integer token id: {v.GetRawText()}");
                int id = (int)value;
                ids.Add(id);
            }
            rows.Add([.. ids]);
        }
        if (rows.Any(r => r.Length != rows[0].Length)) throw new ArgumentException($"eval: the rows of {file} must all have the same length");
        if (rows[0].Length < 2) throw new ArgumentException($"eval: rows need at least 2 tokens to predict one");
        return [.. rows];
    }
}
