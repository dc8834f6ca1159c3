using System.Text;
using Engine.Model;
using Engine.Model.Checkpoints;
using Engine.Tests.Support;

namespace Engine.Tests;

/// <summary>
/// Seeded mutations of a valid model directory (its model.safetensors and its config.json): each must load, or
/// fail with <see cref="CheckpointException"/> (the engine's own error, with a message naming the file). Any other
/// exception, a hang or a crash is a bug.
/// </summary>
public sealed class CheckpointFuzzTests
{
    static readonly GptConfig Micro = new(VocabSize: 9, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);

    static readonly string[] Values =
        ["0", "-1", "1", "3", "7", "1e9", "2147483648", "-2147483649", "1e300", "1e-300", "4.5", "\"x\"", "null", "[]", "{}", "true", "NaN", "\"\"",
         "[1,2]", "99999999999999999999", "-0", "1e39"];

    static (byte[] Weights, string Config) Valid(TempDirectory dir)
    {
        using var model = new Gpt(Micro, seed: 4);
        Gpt2Checkpoint.Save(model, dir.Path);
        return (File.ReadAllBytes(dir.File(Gpt2Checkpoint.WeightsFileName)), File.ReadAllText(dir.File(Gpt2Checkpoint.ConfigFileName)));
    }

    static byte[] MutateWeights(byte[] valid, System.Random random, out string what)
    {
        var bytes = (byte[])valid.Clone();
        int headerLength = (int)BitConverter.ToUInt64(valid, 0);
        switch (random.Next(6))
        {
            case 0:
                int n = random.Next(1, 4);
                for (int i = 0; i < n; i++) bytes[8 + random.Next(headerLength)] = (byte)random.Next(256);
                what = $"{n} header bytes replaced";
                return bytes;
            case 1:
                int at = 8 + headerLength + random.Next(valid.Length - 8 - headerLength);
                bytes[at] = (byte)random.Next(256);
                bytes[at + 1 < bytes.Length ? at + 1 : at] = 0xFF; // an exponent of all ones: NaN or ∞ when it lands on a float's top byte
                what = $"data byte {at} replaced";
                return bytes;
            case 2:
                int length = random.Next(valid.Length);
                what = $"truncated to {length} bytes";
                return bytes[..length];
            case 3:
                ulong claimed = random.Next(3) switch
                {
                    0 => (ulong)random.NextInt64(), 1 => (ulong)random.Next(16), _ => (ulong)(headerLength + random.Next(-16, 17))
                };
                BitConverter.GetBytes(claimed).CopyTo(bytes, 0);
                what = $"header length {claimed}";
                return bytes;
            case 4:
                // A number in the header (a shape or an offset) replaced by another value.
                string header = Encoding.UTF8.GetString(valid, 8, headerLength);
                var numbers = System.Text.RegularExpressions.Regex.Matches(header, "[0-9]+");
                var m = numbers[random.Next(numbers.Count)];
                string value = Values[random.Next(Values.Length)];
                string mutated = header[..m.Index] + value + header[(m.Index + m.Length)..];
                var body = Encoding.UTF8.GetBytes(mutated.TrimEnd());
                int padded = (body.Length + 7) / 8 * 8;
                var result = new byte[8 + padded + valid.Length - 8 - headerLength];
                BitConverter.GetBytes((ulong)padded).CopyTo(result, 0);
                body.CopyTo(result, 8);
                result.AsSpan(8 + body.Length, padded - body.Length).Fill((byte)' ');
                valid.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + padded));
                what = $"header number '{m.Value}' at {m.Index} → {value}";
                return result;
            default:
                int cut = 8 + random.Next(headerLength), count = random.Next(1, 9);
                what = $"{count} header bytes removed at {cut}";
                return [.. bytes[..cut], .. bytes[Math.Min(bytes.Length, cut + count)..]];
        }
    }

    static string MutateConfig(string valid, System.Random random, out string what)
    {
        var keys = System.Text.RegularExpressions.Regex.Matches(valid, "\"([a-z_]+)\": ([^,\\n]+)");
        var k = keys[random.Next(keys.Count)];
        switch (random.Next(4))
        {
            case 0:
                string value = Values[random.Next(Values.Length)];
                what = $"{k.Groups[1].Value} = {value}";
                return valid[..k.Groups[2].Index] + value + valid[(k.Groups[2].Index + k.Groups[2].Length)..];
            case 1:
                what = $"{k.Groups[1].Value} removed";
                return valid.Replace(k.Value + ",", "", StringComparison.Ordinal).Replace(k.Value, "", StringComparison.Ordinal);
            case 2:
                int length = random.Next(valid.Length);
                what = $"truncated to {length} characters";
                return valid[..length];
            default:
                var chars = valid.ToCharArray();
                int at = random.Next(chars.Length);
                chars[at] = "{}[]\",:0-e."[random.Next(11)];
                what = $"character {at} replaced by '{chars[at]}'";
                return new string(chars);
        }
    }

    [Fact]
    public void MutatedModelFilesLoadOrFailWithTheEnginesOwnError()
    {
        using var dir = new TempDirectory();
        var (weights, config) = Valid(dir);
        var random = new System.Random(13);
        int loaded = 0, refused = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            string what;
            if (trial % 2 == 0)
            {
                File.WriteAllText(dir.File(Gpt2Checkpoint.ConfigFileName), config);
                File.WriteAllBytes(dir.File(Gpt2Checkpoint.WeightsFileName), MutateWeights(weights, random, out what));
            }
            else
            {
                File.WriteAllBytes(dir.File(Gpt2Checkpoint.WeightsFileName), weights);
                File.WriteAllText(dir.File(Gpt2Checkpoint.ConfigFileName), MutateConfig(config, random, out what));
            }
            try
            {
                using var model = Gpt2Checkpoint.Load(dir.Path);
                Assert.All(model.Parameters.Values, p => Assert.All(p.Value.ToArray(), v => Assert.True(float.IsFinite(v))));
                loaded++;
            }
            catch (CheckpointException e)
            {
                Assert.True(e.Message.Contains(dir.Path, StringComparison.Ordinal),
                    $"trial {trial} ({what}): the message does not name the file: {e.Message}");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"trial {trial} ({what}): {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(loaded > 20 && refused > 200, $"{loaded} loaded, {refused} refused: the mutations should produce both");
    }
}
