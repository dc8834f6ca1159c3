using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using Engine.Tests.Support;

namespace Engine.Tests.Packaging;

/// <summary>
/// Packs the libraries and the tool as a user would, into a feed in a temporary folder, then restores, builds and runs
/// a console app whose Program.cs is README.md's C# snippet and another made of docs/api.md's snippets, and installs
/// and runs the <c>engine</c> tool: 20–40 s on two busy cores. The pack reuses the libraries built for these tests
/// (<c>--no-build</c>). The apps and the tool restore into a private package folder, so the packages never enter the
/// shared NuGet cache, where a later run would find a stale copy of the same version; their dependencies (ILGPU,
/// System.Numerics.Tensors) come from that cache as a read-only local source, so the test needs no network.
/// </summary>
public sealed class PackageTests
{
    const string ReadmeHeading = "## Use it from C#";
    static readonly string[] Libraries = ["Engine.Tensor", "Engine.Autograd", "Engine.Model", "Engine.Rl"];

    [Fact]
    public void ThePackedLibrariesRunTheDocumentedSnippetsAndTheToolInstalls()
    {
        SkipUnlessTheSdkAndTheBuildAreHere();
        using var temp = new TempDirectory();
        string feed = temp.File("feed");
        Dotnet(RepositoryFiles.Root, "pack", RepositoryFiles.PathOf("Engine.sln"), "-c", RepositoryFiles.Configuration, "--no-build",
            "-o", feed, "-nodeReuse:false");
        string version = PackageVersion(feed);
        var packed = Directory.GetFiles(feed, "*.nupkg").Select(f => Path.GetFileNameWithoutExtension(f)[..^(version.Length + 1)]).ToList();
        Assert.Superset(new HashSet<string>([.. Libraries, "Engine.Cli"]), packed.ToHashSet());
        foreach (string id in packed) CheckMetadata(feed, id, version);

        WriteConfig(temp.Path, feed);
        string app = ConsoleApp(temp.File("app"), version, RepositoryFiles.FencedBlock("README.md", ReadmeHeading, "csharp"));
        string output = Dotnet(app, Path.Combine("out", "App.dll"));
        Assert.Equal(RepositoryFiles.FencedBlock("README.md", ReadmeHeading, ""), output.ReplaceLineEndings("\n"));
        Assert.True(File.Exists(Path.Combine(temp.Path, "packages", "engine.rl", version, $"engine.rl.{version}.nupkg")),
            "the app restored Engine.Rl from somewhere other than the temporary feed");

        // docs/api.md's snippets make one program, in the order they appear; it ends with five GRPO steps.
        string tour = ConsoleApp(temp.File("tour"), version, string.Join('\n', RepositoryFiles.FencedBlocks("docs/api.md", "csharp")));
        string tourOutput = Dotnet(tour, Path.Combine("out", "App.dll"));
        Assert.Contains("step 5: reward", tourOutput, StringComparison.Ordinal);
        // Its last snippet: a user's CustomFunction passes GradCheck, a user's ILanguageModel trains, a leak is reported.
        Assert.Contains("softplus: gradcheck passed", tourOutput, StringComparison.Ordinal);
        Assert.Contains("bigram policy: reward", tourOutput, StringComparison.Ordinal);
        Assert.Contains("leaks found: 1", tourOutput, StringComparison.Ordinal);

        string tools = temp.File("tools");
        Dotnet(temp.Path, "tool", "install", "--tool-path", tools, "--add-source", feed, "--version", version, "Engine.Cli");
        // docs/science.md §3's example: AB·CD, AB·EFHI, JKL·M, JKL·NQ·ST, JKL·NQ·U, VWYZ are 9 process steps.
        File.WriteAllText(temp.File("groups.json"), """
            {"groups": [{"prompt": [0], "completions": [[1,2,3,4],[1,2,5,6,7,8],[9,10,11,12],[9,10,11,13,14,15,16],[9,10,11,13,14,17],
                         [18,19,20,21]], "rewards": [0.5,0.5,1,0,0,0.5]}]}
            """);
        var (exitCode, inspected) = Run(Path.Combine(tools, "engine"), temp.Path, ["inspect", "groups.json", "--json"]);
        Assert.True(exitCode == 0, $"the installed engine inspect exited {exitCode}:\n{inspected}");
        Assert.Contains("\"steps\":9", inspected, StringComparison.Ordinal);
    }

    /// <summary>A console app in <paramref name="folder"/> that references Engine.Rl <paramref name="version"/>, built into out/.</summary>
    static string ConsoleApp(string folder, string version, string program)
    {
        string app = Directory.CreateDirectory(folder).FullName;
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <InvariantGlobalization>true</InvariantGlobalization>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Engine.Rl" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);
        Dotnet(app, "build", "-c", "Release", "-o", "out", "-nodeReuse:false");
        return app;
    }

    /// <summary>A machine with only the .NET runtime (the GPU machine) runs published tests: it can neither pack nor build.</summary>
    static void SkipUnlessTheSdkAndTheBuildAreHere()
    {
        string built = RepositoryFiles.PathOf(Path.Combine("src", "Rl", "bin", RepositoryFiles.Configuration, "net10.0", "Engine.Rl.dll"));
        if (!File.Exists(built)) Assert.Skip($"the libraries are not built in the repository ({built})");
        string sdks;
        try
        {
            sdks = Run(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", RepositoryFiles.Root, ["--list-sdks"]).Output;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            sdks = "";
            Assert.Skip($"no dotnet to run: {e.Message}");
        }
        if (sdks.Trim().Length == 0) Assert.Skip("no .NET SDK on this machine (dotnet --list-sdks lists none)");
    }

    /// <summary>The version every package was packed with (they share one).</summary>
    static string PackageVersion(string feed)
    {
        string tensor = Assert.Single(Directory.GetFiles(feed, "Engine.Tensor.*.nupkg"));
        return Path.GetFileNameWithoutExtension(tensor)["Engine.Tensor.".Length..];
    }

    static void CheckMetadata(string feed, string id, string version)
    {
        string package = Path.Combine(feed, $"{id}.{version}.nupkg");
        Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.snupkg")), $"{id} has no symbols package");
        using var zip = ZipFile.OpenRead(package);
        var nuspec = XDocument.Load(zip.GetEntry($"{id}.nuspec")!.Open()).Root!;
        XNamespace ns = nuspec.GetDefaultNamespace();
        var metadata = nuspec.Element(ns + "metadata")!;
        string Field(string name) => metadata.Element(ns + name)?.Value ?? "";
        string description = Field("description");
        Assert.True(description.Length > 20 && !description.Contains("Package Description", StringComparison.Ordinal),
            $"{id} needs a <Description> in its project file, has '{description}'");
        Assert.Equal(("MIT", "The Engine authors", "README.md"), (Field("license"), Field("authors"), Field("readme")));
        Assert.True(zip.GetEntry("README.md") is not null && zip.GetEntry("LICENSE") is not null, $"{id} lacks README.md or LICENSE");
    }

    /// <summary>A nuget.config for everything under <paramref name="folder"/>: the feed, then the shared cache as a local source.</summary>
    static void WriteConfig(string folder, string feed)
    {
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(folder, "packages")}" />
              </config>
              <packageSources>
                <clear />
                <add key="engine" value="{feed}" />
                <add key="cache" value="{cache}" />
              </packageSources>
            </configuration>
            """);
    }

    /// <summary>Runs dotnet with <paramref name="arguments"/> in <paramref name="folder"/>: its standard output, or a failure showing all.</summary>
    static string Dotnet(string folder, params string[] arguments)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var (exitCode, output) = Run(dotnet, folder, arguments);
        Assert.True(exitCode == 0, $"dotnet {string.Join(' ', arguments)} exited {exitCode}:\n{output}");
        return output;
    }

    static (int ExitCode, string Output) Run(string program, string folder, string[] arguments)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) info.ArgumentList.Add(a);
        // The test host runs under MSBuild and VSTest, whose variables would point a child build at their own SDK state.
        foreach (string name in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(name);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} ran past 10 minutes");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + (process.ExitCode == 0 ? "" : stderr.Result));
    }
}
