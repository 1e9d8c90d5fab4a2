using System.Diagnostics;
using System.Text;

namespace Loop.Tests.Fetch;

/// <summary>What a <c>loop-fetch</c> process wrote and exited with.</summary>
internal sealed record FetchResult(int ExitCode, byte[] Stdout, string Stderr)
{
    /// <summary>Stdout as Latin-1 text (one char per byte: binary-safe for comparisons).</summary>
    public string Output => Encoding.Latin1.GetString(Stdout);

    /// <summary>The lines of stderr, without empty ones.</summary>
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}, stderr: {Stderr}";
}

/// <summary>
/// Runs the built <c>loop-fetch.dll</c> (Loop.Fetch, built before the tests through the test
/// project's reference) as a process with <c>dotnet</c>, stdin closed and stdout and stderr
/// captured; a process still running at its deadline or at disposal is killed with its children.
/// </summary>
internal sealed class FetchProcess : IDisposable
{
    /// <summary>How long one process may run before it is killed and the test fails.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly Task _stdout;
    private readonly Task<string> _stderr;

    private FetchProcess(IEnumerable<string> args, Stream stdoutSink)
    {
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        _process.StandardInput.Close();
        _stdout = _process.StandardOutput.BaseStream.CopyToAsync(stdoutSink);
        _stderr = _process.StandardError.ReadToEndAsync();
    }

    /// <summary>The built tool, beside this test assembly's own build (same configuration).</summary>
    public static string DllPath { get; } = Locate();

    /// <summary>The process, while it runs (its id, its /proc entry).</summary>
    public Process Process => _process;

    /// <summary>The <c>dotnet</c> that runs the tests (the SDK sets DOTNET_HOST_PATH), else the one on the PATH.</summary>
    private static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>Starts <c>loop-fetch</c> with <paramref name="args"/>; its stdout goes to <paramref name="stdoutSink"/>.</summary>
    public static FetchProcess Start(IEnumerable<string> args, Stream stdoutSink) => new(args, stdoutSink);

    /// <summary>Runs <c>loop-fetch</c> with <paramref name="args"/> to the end.</summary>
    public static async Task<FetchResult> RunAsync(params string[] args)
    {
        var stdout = new MemoryStream();
        using FetchProcess process = Start(args, stdout);
        int code = await process.WaitAsync();
        return new FetchResult(code, stdout.ToArray(), await process._stderr);
    }

    /// <summary>Waits for the exit and for stdout and stderr to be read to their end; returns the exit code.</summary>
    /// <param name="limit">How long it may run; <see cref="Deadline"/> when null.</param>
    /// <exception cref="TimeoutException">The process ran past <paramref name="limit"/> (it is killed).</exception>
    public async Task<int> WaitAsync(TimeSpan? limit = null)
    {
        TimeSpan allowed = limit ?? Deadline;
        using var deadline = new CancellationTokenSource(allowed);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
            await _stdout.WaitAsync(deadline.Token);
            await _stderr.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"loop-fetch ran for more than {allowed.TotalSeconds} s.");
        }

        return _process.ExitCode;
    }

    /// <summary>What the process wrote on stderr (after <see cref="WaitAsync"/>).</summary>
    public Task<string> StderrAsync() => _stderr;

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill: nothing left to stop.
        }

        _process.Dispose();
    }

    private static string Locate()
    {
        // bin/<Configuration>/net10.0/ of Loop.Tests → the same of Loop.Fetch.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = testBin.Name;
        string configuration = testBin.Parent!.Name;
        DirectoryInfo? root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Loop.sln")))
        {
            root = root.Parent;
        }

        string path = Path.Combine(root?.FullName ?? throw new FileNotFoundException("Loop.sln not found above the test assembly."), "Loop.Fetch", "bin", configuration, framework, "loop-fetch.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"loop-fetch.dll is not built at {path}.", path);
    }
}
