using System.Diagnostics;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// An external program as a client (wrk, <c>curl -Z</c>, Node's undici): started once per
/// repetition under the client core's launcher, its output parsed, its CPU time taken from the
/// runner's <see cref="Rusage.ChildrenCpu"/> across its run (or from its own report, when it
/// measures itself).
/// </summary>
internal abstract class ToolClient : IBenchClient
{
    private readonly IReadOnlyList<string> _launcher;

    protected ToolClient(string name, IReadOnlyList<string> launcher)
    {
        Name = name;
        _launcher = launcher;
    }

    public string Name { get; }

    public abstract Measurement Run(RunSpec spec);

    public virtual void Dispose()
    {
    }

    /// <summary>What one run of the tool printed, how long it took and the CPU it used.</summary>
    protected readonly record struct ToolRun(int ExitCode, string Output, string Errors, double Seconds, double? CpuSeconds);

    /// <summary>Runs <paramref name="arguments"/> under the launcher and waits at most <paramref name="limit"/>.</summary>
    protected ToolRun Execute(IReadOnlyList<string> arguments, TimeSpan limit, IReadOnlyDictionary<string, string>? environment = null)
    {
        var command = new List<string>(_launcher);
        command.AddRange(arguments);
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        TimeSpan? cpuBefore = Rusage.ChildrenCpu();
        long started = Stopwatch.GetTimestamp();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{command[0]} did not start.");
        ProcessGuard.Track(process);
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        // The runner's own thread: it waits for one tool at a time, bounded.
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{Name} did not finish in {limit.TotalSeconds:F0} s.");
        }

        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        TimeSpan? cpuAfter = Rusage.ChildrenCpu();
        double? cpu = cpuBefore is { } before && cpuAfter is { } after ? (after - before).TotalSeconds : null;
        return new ToolRun(process.ExitCode, output.Result, errors.Result, seconds, cpu);
    }

    /// <summary>The first line of <paramref name="text"/> that says something, for a failure message.</summary>
    protected static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "(no output)";
}
