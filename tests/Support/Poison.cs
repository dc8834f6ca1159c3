using System.Runtime.CompilerServices;

namespace Engine.Tests.Support;

static class Poison
{
    /// <summary>Every test run fills uninitialised tensor storage with NaN (see CpuStorage.PoisonUninitialized).</summary>
    [ModuleInitializer]
    internal static void Enable() => Engine.Cpu.CpuStorage.PoisonUninitialized = true;
}
