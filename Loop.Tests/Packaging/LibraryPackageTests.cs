using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;

namespace Loop.Tests.Packaging;

/// <summary>
/// The library packages carry ReadyToRun copies of their assemblies for linux-x64
/// (runtimes/linux-x64/lib/&lt;tfm&gt;/, see Directory.Build.targets) beside the IL ones, and an
/// application restored from them on that runtime runs the precompiled code.
/// </summary>
[CancelAfter(400_000)]
[NonParallelizable]
public sealed class LibraryPackageTests
{
    private const string ReadyToRunRuntime = "linux-x64";

    private static readonly (string Id, string Project)[] Libraries =
    [
        ("Loop.Core", "Loop.Core/Loop.Core.csproj"),
        ("Loop.IOStream", "Loop.IOStream/Loop.IOStream.csproj"),
        ("Loop.HttpClient", "Loop.HttpClient/Loop.HttpClient.csproj"),
        ("Loop.Curl", "Loop.Curl/Loop.Curl.csproj"),
        ("Loop.Http.Handler", "Loop.Http.Handler/Loop.Http.Handler.csproj"),
    ];

    private PackageScratch _scratch = null!;

    [SetUp]
    public void CreateScratch() => _scratch = new PackageScratch("loop-package-");

    [TearDown]
    public void RemoveScratch() => _scratch.Dispose();

    [Test]
    public async Task EachLibraryPackage_CarriesItsIlAndAReadyToRunCopyOfTheSameAssembly_PerFramework()
    {
        foreach ((string id, string project) in Libraries)
        {
            (string folder, string version) = await _scratch.FindOrPackAsync(id, project);
            using ZipArchive package = ZipFile.OpenRead(Path.Combine(folder, $"{id}.{version}.nupkg"));
            foreach (string framework in new[] { "net8.0", "net10.0" })
            {
                AssemblyFacts il = Read(package, $"lib/{framework}/{id}.dll");
                AssemblyFacts precompiled = Read(package, $"runtimes/{ReadyToRunRuntime}/lib/{framework}/{id}.dll");
                Assert.Multiple(() =>
                {
                    Assert.That(il.ReadyToRun, Is.False, $"{id} lib/{framework} is IL only");
                    Assert.That(precompiled.ReadyToRun, Is.True, $"{id} runtimes/{ReadyToRunRuntime}/lib/{framework} has native code");
                    Assert.That(precompiled.Mvid, Is.EqualTo(il.Mvid), $"{id} {framework}: both copies are compiled from the same IL");
                    Assert.That(precompiled.Version, Is.EqualTo(il.Version), $"{id} {framework}: same assembly version");
                });
            }
        }
    }

    /// <summary>
    /// A console application restored from the package runs a loop; on linux-x64 the JIT compiles
    /// a few of Loop's methods where, with precompiled code ignored, it compiles them all. net10.0
    /// as a plain build (the runtime picks runtimes/&lt;rid&gt;/lib through the deps file), net8.0
    /// published self-contained for this runtime (the .NET 8 runtime comes from its runtime pack,
    /// and the publish copies the runtime's asset beside the program).
    /// </summary>
    [TestCase("net10.0")]
    [TestCase("net8.0")]
    public async Task AnApplicationRestoredFromThePackage_RunsLoopsPrecompiledCode(string framework)
    {
        (string folder, string version) = await _scratch.FindOrPackAsync("Loop.Core", "Loop.Core/Loop.Core.csproj");
        string app = Path.Combine(_scratch.Folder, "app");
        Directory.CreateDirectory(app);
        await File.WriteAllTextAsync(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>{framework}</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestoreAdditionalProjectSources>{folder}</RestoreAdditionalProjectSources>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Loop.Core" Version="{version}" />
              </ItemGroup>
            </Project>
            """);

        // Prints where Loop.Core was loaded from, then how many of Loop's methods the JIT compiled
        // while a loop ran a callback and a timer (the runtime reports each jitted method).
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using System.Diagnostics.Tracing;
            using Loop;

            using var listener = new JitListener();
            Console.WriteLine(typeof(IOLoop).Assembly.Location);
            using (var loop = new IOLoop())
            {
                int answer = loop.RunSync(async () =>
                {
                    var done = new TaskCompletionSource<int>();
                    loop.CallLater(TimeSpan.FromMilliseconds(1), () => loop.AddCallback(() => done.SetResult(42)));
                    return await done.Task;
                }, timeout: TimeSpan.FromSeconds(10));
                Console.WriteLine(answer);
            }

            Console.WriteLine(listener.LoopMethods);

            sealed class JitListener : EventListener
            {
                public int LoopMethods;

                protected override void OnEventSourceCreated(EventSource source)
                {
                    if (source.Name == "Microsoft-Windows-DotNETRuntime")
                    {
                        EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x10);
                    }
                }

                protected override void OnEventWritten(EventWrittenEventArgs e)
                {
                    if (e.EventName is not null && e.EventName.StartsWith("MethodLoadVerbose", StringComparison.Ordinal)
                        && e.Payload?[e.PayloadNames!.IndexOf("MethodNamespace")] is string name && name.StartsWith("Loop.", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref LoopMethods);
                    }
                }
            }
            """);

        string output = Path.Combine(app, "out");
        bool published = framework != "net10.0";
        CommandResult build = published
            ? await _scratch.RunAsync("dotnet", ["publish", app, "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier, "--self-contained", "-o", output])
            : await _scratch.RunAsync("dotnet", ["build", app, "-c", "Release", "-o", output]);
        Assert.That(build.ExitCode, Is.Zero, build.Output);
        (string file, string[] arguments) = published
            ? (Path.Combine(output, OperatingSystem.IsWindows() ? "app.exe" : "app"), Array.Empty<string>())
            : ("dotnet", new[] { Path.Combine(output, "app.dll") });

        CommandResult run = await _scratch.RunAsync(file, arguments);
        Assert.That(run.ExitCode, Is.Zero, run.Output);
        string[] lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(3), run.Output);
        Assert.That(lines[1], Is.EqualTo("42"));

        // The same run with the runtime told to ignore precompiled code: every Loop method it
        // calls is jitted, which gives the count to compare with.
        CommandResult jitted = await _scratch.RunAsync(file, arguments, new Dictionary<string, string> { ["DOTNET_ReadyToRun"] = "0" });
        Assert.That(jitted.ExitCode, Is.Zero, jitted.Output);
        int precompiledRunJitted = int.Parse(lines[2], System.Globalization.CultureInfo.InvariantCulture);
        int allJitted = int.Parse(jitted.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim(), System.Globalization.CultureInfo.InvariantCulture);

        string loaded = lines[0].Replace('\\', '/');
        TestContext.Out.WriteLine($"{framework}: {loaded}; Loop methods jitted: {precompiledRunJitted} as restored for {RuntimeInformation.RuntimeIdentifier}, {allJitted} with precompiled code ignored");
        if (RuntimeInformation.RuntimeIdentifier == ReadyToRunRuntime)
        {
            Assert.That(loaded, Does.EndWith(published ? "/out/Loop.Core.dll" : $"runtimes/{ReadyToRunRuntime}/lib/{framework}/Loop.Core.dll"));
            Assert.That(Read(lines[0]).ReadyToRun, Is.True);

            // Left to the JIT: generic code over the framework's types (and the odd method crossgen2 leaves out).
            Assert.That(precompiledRunJitted * 4, Is.LessThan(allJitted), $"Loop methods jitted: {precompiledRunJitted} with the ReadyToRun copy, {allJitted} without");
        }
        else
        {
            // No ReadyToRun copy for this runtime: the IL one, jitted as before.
            Assert.That(Read(lines[0]).ReadyToRun, Is.False);
            Assert.That(precompiledRunJitted, Is.EqualTo(allJitted));
        }
    }

    private sealed record AssemblyFacts(bool ReadyToRun, Guid Mvid, Version Version);

    private static AssemblyFacts Read(ZipArchive package, string entryName)
    {
        ZipArchiveEntry entry = package.GetEntry(entryName) ?? throw new AssertionException($"{entryName} is not in the package");
        using Stream zipped = entry.Open();
        var copy = new MemoryStream();
        zipped.CopyTo(copy);
        copy.Position = 0;
        return Read(copy);
    }

    private static AssemblyFacts Read(string path)
    {
        using FileStream file = File.OpenRead(path);
        return Read(file);
    }

    private static AssemblyFacts Read(Stream stream)
    {
        using var reader = new PEReader(stream);
        MetadataReader metadata = reader.GetMetadataReader();
        bool readyToRun = reader.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
        return new AssemblyFacts(readyToRun, metadata.GetGuid(metadata.GetModuleDefinition().Mvid), metadata.GetAssemblyDefinition().Version);
    }
}
