using System.Diagnostics;
using Loop.Tests.Support;

namespace Loop.Tests.Packaging;

/// <summary>
/// The fetcher's tool package, installed as a user would install it: from the local package
/// folder (<c>make pack</c> fills <c>artifacts/packages</c>; without it the test packs the tool
/// itself) into a tool path of its own, then run: <c>--help</c> and a fetch.
/// </summary>
[CancelAfter(400_000)]
[NonParallelizable]
public sealed class ToolPackageTests
{
    private static readonly TimeSpan CommandLimit = TimeSpan.FromMinutes(3);

    private string _scratch = null!;

    [SetUp]
    public void CreateScratch()
    {
        _scratch = Path.Combine(Path.GetTempPath(), "loop-tool-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_scratch);
    }

    [TearDown]
    public void RemoveScratch()
    {
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
            // A file still held: the temporary folder keeps it.
        }
    }

    [Test]
    public async Task LoopFetchTool_InstalledFromTheLocalFolder_ShowsHelpAndFetches()
    {
        (string folder, string version) = await FindOrPackAsync();
        string tools = Path.Combine(_scratch, "tools");
        CommandResult install = await RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", folder, "Loop.Fetch", "--version", version]);
        Assert.That(install.ExitCode, Is.Zero, install.Output);

        string command = Path.Combine(tools, OperatingSystem.IsWindows() ? "loop-fetch.exe" : "loop-fetch");
        CommandResult help = await RunAsync(command, ["--help"]);
        Assert.That(help.ExitCode, Is.Zero, help.Output);
        Assert.That(help.Output, Does.Contain("Usage").And.Contain("--print_headers").And.Contain("--client"));

        CommandResult fetch = await RunAsync(command, [TestHttpServer.Shared.Url("/hello?name=tool")]);
        Assert.That(fetch.ExitCode, Is.Zero, fetch.Output);
        Assert.That(fetch.StandardOutput, Is.EqualTo("Hello tool!"));
    }

    /// <summary>The folder with the Loop.Fetch package and its version: the repository's artifacts/packages, or one packed here.</summary>
    private async Task<(string Folder, string Version)> FindOrPackAsync()
    {
        string root = RepositoryRoot();
        string artifacts = Path.Combine(root, "artifacts", "packages");
        if (FindPackage(artifacts) is { } found)
        {
            return (artifacts, found);
        }

        string packed = Path.Combine(_scratch, "packages");
        CommandResult pack = await RunAsync("dotnet", ["pack", Path.Combine(root, "Loop.Fetch", "Loop.Fetch.csproj"), "-c", "Release", "-o", packed]);
        Assert.That(pack.ExitCode, Is.Zero, pack.Output);
        return (packed, FindPackage(packed) ?? throw new AssertionException($"dotnet pack made no Loop.Fetch package in {packed}:\n{pack.Output}"));
    }

    private static string? FindPackage(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return null;
        }

        string? file = Directory.GetFiles(folder, "Loop.Fetch.*.nupkg").OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
        return file is null ? null : Path.GetFileNameWithoutExtension(file)["Loop.Fetch.".Length..];
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(TestContext.CurrentContext.TestDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Loop.sln")))
            {
                return directory.FullName;
            }
        }

        throw new AssertionException("Loop.sln not found above " + TestContext.CurrentContext.TestDirectory);
    }

    private sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
    {
        public string Output => $"stdout:\n{StandardOutput}\nstderr:\n{StandardError}";
    }

    private async Task<CommandResult> RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _scratch,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        // A package cache of its own: the user's may hold an older Loop.Fetch of the same version.
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_scratch, "nuget");
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(CommandLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"{file} {string.Join(' ', arguments)} ran past {CommandLimit.TotalMinutes} minutes");
        }

        return new CommandResult(process.ExitCode, await output, await error);
    }
}
