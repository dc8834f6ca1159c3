using Engine.Rl.Experiments;
using Engine.Rl.Tasks;
using Engine.Tests.Backends;
using Engine.Tests.Support;

namespace Engine.Tests.Rl;

/// <summary>GRPO end to end on the ILGPU backend: sampling, the objective, backward and AdamW all on the device.</summary>
[Collection(nameof(IlgpuDeviceCollection))]
public sealed class GrpoOnDeviceTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TreeRunOnIlgpuFollowsTheCpuTrajectory(bool lambda)
    {
        var run = new TreeRun(SharedPrefix: 1, NegativeReward: -1f, Lambda: lambda, Seed: 3);
        var entropy = new List<double>[2];
        // At the demo's learning rate; at 1e-2 AdamW's first steps (≈ lr·sign g) turn rounding-level gradient
        // differences into visible ones within a few steps, on any two backends.
        TreeRunResult Train(Device device, List<double> trace) =>
            TreeExperiment.Run(run, steps: 6, learningRate: TreeExperiment.LearningRate, onStep: (_, m) => trace.Add(m.Entropy), device: device);
        var cpu = Train(Device.Cpu, entropy[0] = []);
        var dev = Train(Device.IlgpuCpu, entropy[1] = []);
        // Sampling draws from the same Philox stream, so the groups agree as long as the policies do.
        Assert.Equal(cpu.TargetFrequency, dev.TargetFrequency);
        Tolerance.AssertClose(entropy[1].ToArray(), entropy[0].ToArray(), 1e-5, 1e-4, "policy entropy per step");
    }
}
