using System.Diagnostics;

namespace Engine.Tests.Support;

/// <summary>Runs one of the executables built beside the tests (the test runner itself, or `engine`) in a child process.</summary>
public static class ChildProcess
{
    /// <summary>The environments that force each SIMD level below the machine's own, with the width each must give.</summary>
    public static readonly IReadOnlyDictionary<string, (int Bits, bool Fma, string[] Environment)> Levels =
        new Dictionary<string, (int, bool, string[])>
        {
            ["avx2"] = (256, true, ["DOTNET_EnableAVX512=0", "DOTNET_EnableAVX512F=0"]),
            ["128-fma"] = (128, true, ["DOTNET_PreferredVectorBitWidth=128"]),
            ["sse"] = (128, false, ["DOTNET_EnableAVX512=0", "DOTNET_EnableAVX512F=0", "DOTNET_EnableAVX2=0"]),
        };

    /// <summary>Why this machine cannot run <paramref name="level"/> as a forced lower level, or null when it can.</summary>
    public static string? Unavailable(string level) => level switch
    {
        _ when !System.Runtime.Intrinsics.X86.Sse2.IsSupported => "only x86 has SIMD levels below its own; Arm64's 128 bits are its native width",
        "avx2" when !System.Runtime.Intrinsics.X86.Avx2.IsSupported => "AVX2 is off (processor or DOTNET_EnableAVX2=0)",
        "128-fma" when !System.Runtime.Intrinsics.X86.Fma.IsSupported => "FMA is off (processor or DOTNET_EnableAVX2=0), so no child can have it",
        _ => null,
    };

    /// <summary>Runs <paramref name="program"/> (a name in the test output folder) with arguments and extra NAME=VALUE variables.</summary>
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> arguments, IEnumerable<string> environment,
        int timeoutSeconds = 600)
    {
        using var process = Start(program, arguments, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} ran past {timeoutSeconds} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Starts <paramref name="program"/> with its output redirected; the caller waits for it or kills it.</summary>
    public static Process Start(string program, IEnumerable<string> arguments, IEnumerable<string> environment)
    {
        string dir = AppContext.BaseDirectory;
        string apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? program + ".exe" : program);
        var info = File.Exists(apphost)
            ? new ProcessStartInfo(apphost)
            : new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                ArgumentList = { Path.Combine(dir, program + ".dll") },
            };
        foreach (string a in arguments) info.ArgumentList.Add(a);
        foreach (string e in environment)
        {
            int eq = e.IndexOf('=');
            info.Environment[e[..eq]] = e[(eq + 1)..];
        }
        info.RedirectStandardOutput = info.RedirectStandardError = true;
        info.WorkingDirectory = dir;
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
    }
}
