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
    private PackageScratch _scratch = null!;

    [SetUp]
    public void CreateScratch() => _scratch = new PackageScratch("loop-tool-");

    [TearDown]
    public void RemoveScratch() => _scratch.Dispose();

    [Test]
    public async Task LoopFetchTool_InstalledFromTheLocalFolder_ShowsHelpAndFetches()
    {
        (string folder, string version) = await _scratch.FindOrPackAsync("Loop.Fetch", Path.Combine("Loop.Fetch", "Loop.Fetch.csproj"));
        string tools = Path.Combine(_scratch.Folder, "tools");
        CommandResult install = await _scratch.RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", folder, "Loop.Fetch", "--version", version]);
        Assert.That(install.ExitCode, Is.Zero, install.Output);

        string command = Path.Combine(tools, OperatingSystem.IsWindows() ? "loop-fetch.exe" : "loop-fetch");
        CommandResult help = await _scratch.RunAsync(command, ["--help"]);
        Assert.That(help.ExitCode, Is.Zero, help.Output);
        Assert.That(help.Output, Does.Contain("Usage").And.Contain("--print_headers").And.Contain("--client"));

        CommandResult fetch = await _scratch.RunAsync(command, [TestHttpServer.Shared.Url("/hello?name=tool")]);
        Assert.That(fetch.ExitCode, Is.Zero, fetch.Output);
        Assert.That(fetch.StandardOutput, Is.EqualTo("Hello tool!"));
    }
}
