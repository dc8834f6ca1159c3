using Engine.Model;
using Engine.Model.Training;

namespace Engine.Tests;

public class LmTrainerTests
{
    static readonly GptConfig Micro = new(VocabSize: 7, ContextLength: 8, Width: 16, Layers: 1, Heads: 2);
    static readonly int[] Stream = Enumerable.Range(0, 300).Select(i => (i * i + 3 * i) % 7).ToArray();
    static readonly LmTrainOptions Options = new(Steps: 6, BatchSize: 2, LearningRate: 1e-2f, WarmupSteps: 2, EvalEvery: 3, EvalBatches: 1);

    [Fact]
    public void ResumingFromSavedStateContinuesBitForBit()
    {
        float[][] straight;
        using (var model = new Gpt(Micro, seed: 1))
        using (var trainer = new LmTrainer(model, Stream, Stream, Options))
        {
            trainer.Run();
            straight = model.Parameters.Values.Select(p => p.Value.ToArray()).ToArray();
        }

        float[][] weights;
        Dictionary<string, float[]> optimizer;
        long position;
        using (var model = new Gpt(Micro, seed: 1))
        using (var trainer = new LmTrainer(model, Stream, Stream, Options))
        {
            trainer.Run(untilStep: 3);
            weights = model.Parameters.Values.Select(p => p.Value.ToArray()).ToArray();
            optimizer = trainer.Optimizer.ExportState();
            position = trainer.Data.Position;
        }

        using var resumed = new Gpt(Micro, seed: 99); // different init: everything must come from the saved state
        int i = 0;
        foreach (var p in resumed.Parameters.Values) p.Value.CopyFrom(weights[i++]);
        using var t2 = new LmTrainer(resumed, Stream, Stream, Options) { Step = 3 };
        t2.Optimizer.ImportState(optimizer);
        t2.Data.Position = position;
        t2.Run();
        Assert.Equal(straight, resumed.Parameters.Values.Select(p => p.Value.ToArray()).ToArray());
    }

    [Fact]
    public void TrainingLogsLossesThatFallAndWritesCsv()
    {
        using var model = new Gpt(Micro, seed: 2);
        using var trainer = new LmTrainer(model, Stream, Stream, Options with { Steps = 30 });
        trainer.Run();
        Assert.Equal(30, trainer.History.Count);
        Assert.True(trainer.History[^1].TrainLoss < trainer.History[0].TrainLoss * 0.7f);
        Assert.NotNull(trainer.History[^1].ValLoss);
        string dir = Directory.CreateTempSubdirectory("engine-train").FullName;
        string csv = Path.Combine(dir, "loss.csv");
        LmTrainer.AppendCsv(csv, trainer.History);
        Assert.Equal(31, File.ReadAllLines(csv).Length);
        Directory.Delete(dir, true);
    }
}
