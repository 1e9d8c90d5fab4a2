using System.Diagnostics;

namespace Loop.Tests.Packaging;

/// <summary>
/// A scratch folder for the packaging tests, with the commands they run in it: a package cache of
/// its own (the user's may hold an older Loop package of the same version), each command bounded
/// in time, and the repository's packages (<c>make pack</c> fills <c>artifacts/packages</c>;
/// without them the test packs what it needs into the scratch folder).
/// </summary>
internal sealed class PackageScratch : IDisposable
{
    private static readonly TimeSpan CommandLimit = TimeSpan.FromMinutes(3);

    public PackageScratch(string prefix)
    {
        Folder = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public static string RepositoryRoot()
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

    /// <summary>
    /// The folder holding the named package and its version: the repository's artifacts/packages,
    /// or one packed here from <paramref name="project"/> (a path under the repository root).
    /// </summary>
    public async Task<(string Folder, string Version)> FindOrPackAsync(string id, string project)
    {
        string artifacts = Path.Combine(RepositoryRoot(), "artifacts", "packages");
        if (FindPackage(artifacts, id) is { } found)
        {
            return (artifacts, found);
        }

        string packed = Path.Combine(Folder, "packages");
        CommandResult pack = await RunAsync("dotnet", ["pack", Path.Combine(RepositoryRoot(), project), "-c", "Release", "-o", packed]);
        Assert.That(pack.ExitCode, Is.Zero, pack.Output);
        return (packed, FindPackage(packed, id) ?? throw new AssertionException($"dotnet pack made no {id} package in {packed}:\n{pack.Output}"));
    }

    private static string? FindPackage(string folder, string id)
    {
        if (!Directory.Exists(folder))
        {
            return null;
        }

        // Loop.Http.Handler.0.1.0.nupkg also matches "Loop.Http.*": the version must start with a digit.
        string? file = Directory.GetFiles(folder, id + ".*.nupkg")
            .Where(path => char.IsAsciiDigit(Path.GetFileName(path)[(id.Length + 1)..][0]))
            .OrderByDescending(File.GetLastWriteTimeUtc)
            .FirstOrDefault();
        return file is null ? null : Path.GetFileNameWithoutExtension(file)[(id.Length + 1)..];
    }

    public async Task<CommandResult> RunAsync(string file, string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Folder,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["NUGET_PACKAGES"] = Path.Combine(Folder, "nuget");
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

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

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A file still held: the temporary folder keeps it.
        }
    }
}

internal sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => $"stdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}
