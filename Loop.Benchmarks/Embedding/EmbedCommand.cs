using System.Diagnostics;
using System.Globalization;
using Loop.Benchmarks.Suite;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// <c>embed</c>: the embedding benchmark (<c>make bench-embed</c>). Starts nginx pinned to one
/// core (or uses <c>--url</c>), then for each client a host process (<c>embed-host</c>, an
/// <see cref="EmbeddingHost"/>) pinned to another, which runs bounded and unbounded rounds
/// interleaved; writes the report (<see cref="EmbedReport"/>) to <c>--out</c> and prints it.
/// </summary>
internal static class EmbedCommand
{
    /// <summary>The prefix of a round's line from a host process; anything else it prints is passed through.</summary>
    public const string ResultPrefix = "result ";

    private static readonly string[] s_runnerOptions = ["--out", "--work-dir", "--note"];

    private static readonly string s_usage = string.Join(
        Environment.NewLine,
        "usage: Loop.Benchmarks embed [--clients simple,curl | --client simple] [--body buffered,pooled,writer,stream]",
        "         [--url URL] [--modes budget,frame,unbounded]",
        "         [--concurrency 200] [--duration 10] [--warmup 5] [--budget-ms 2] [--work-ms 1] [--hz 60]",
        "         [--repetitions 2] [--out docs/embedding.md] [--work-dir DIR] [--note TEXT]",
        "Durations in seconds. --url: what every fetch gets (default: the 1 MiB /large of an nginx the",
        "runner starts). --budget-ms 0: unbounded rounds only.");

    /// <summary>The runner: nginx, a host process per client, the report. Returns the exit code.</summary>
    public static int Run(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(s_usage);
            return 0;
        }

        if (CommandArgs.FirstUnknown(args, [.. EmbedSettings.ValueOptions, .. s_runnerOptions], []) is { } unknown)
        {
            Console.Error.WriteLine($"embed: unknown option, or an option without its value: {unknown}");
            Console.Error.WriteLine(s_usage);
            return 2;
        }

        EmbedSettings settings;
        try
        {
            settings = EmbedSettings.Parse(args);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"embed: {e.Message}");
            return 2;
        }

        string[] clients = CommandArgs.Option(args, "--clients") is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : CommandArgs.Option(args, "--client") is { } one ? [one]
            : EmbedSettings.AllClients;
        if (clients.FirstOrDefault(c => !EmbedSettings.AllClients.Contains(c)) is { } wrong)
        {
            Console.Error.WriteLine($"embed: unknown client '{wrong}': simple or curl.");
            return 2;
        }

        BodyMode[] bodies;
        try
        {
            bodies = [.. (CommandArgs.Option(args, "--body") ?? "buffered").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(EmbedSettings.ParseBody)];
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"embed: {e.Message}");
            return 2;
        }

        ProcessGuard.Install();
        string output = CommandArgs.Option(args, "--out") ?? Path.Combine("docs", "embedding.md");
        string workDirectory = CommandArgs.Option(args, "--work-dir") ?? Path.Combine(Path.GetTempPath(), "loop-bench");
        Directory.CreateDirectory(workDirectory);
        List<(string Name, string Value)> machine = MachineInfo.Describe();
        DateTimeOffset date = DateTimeOffset.UtcNow;
        (IReadOnlyList<string> clientLauncher, IReadOnlyList<string> serverLauncher, string pinning) = SuiteCommand.Pinning();
        NginxServer? server = null;
        var measurements = new List<EmbedMeasurement>();
        try
        {
            if (settings.Url is { } url)
            {
                machine.Add(("Server", $"{url} (given with --url), pinned by whoever started it"));
            }
            else
            {
                string nginx = NginxServer.Find() ?? throw new InvalidOperationException("nginx is not installed (Debian/Ubuntu: apt-get install nginx); `make bench-embed` installs it when run as root.");
                server = NginxServer.Start(nginx, workDirectory, serverLauncher);
                settings = settings with { Url = server.BaseUrl + "/large" };
                machine.Add(("nginx", $"{server.Version}, one worker, configuration written to {Path.Combine(server.Directory, "nginx.conf")}"));
                Console.WriteLine($"nginx ({server.Version}) listening at {server.BaseUrl}; {pinning}");
            }

            machine.Add(("Pinning", pinning));
            foreach (string client in clients)
            {
                foreach (BodyMode body in bodies)
                {
                    Console.WriteLine($"== {client}, {body.ToString().ToLowerInvariant()} bodies: {settings.Concurrency} workers, {Rounds(settings)} rounds of {settings.Duration.TotalSeconds:0.#} s after {settings.Warmup.TotalSeconds:0.#} s of warm-up");
                    measurements.AddRange(RunHost(settings with { Client = client, Body = body }, clientLauncher));
                }
            }
        }
        finally
        {
            server?.Dispose();
            ProcessGuard.KillAll();
        }

        var report = new EmbedReport
        {
            Command = Environment.GetEnvironmentVariable("LOOP_BENCH_COMMAND") is { Length: > 0 } make ? make : "Loop.Benchmarks embed " + string.Join(' ', args),
            Date = date,
            Note = CommandArgs.Option(args, "--note"),
            Machine = machine,
            Method = Method(settings),
            Clients = clients,
            Measurements = measurements,
        };
        string markdown = report.ToMarkdown();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, markdown);
        File.WriteAllLines(Path.ChangeExtension(output, ".jsonl"), measurements.Select(m => m.ToJson()));
        Console.WriteLine();
        Console.WriteLine(markdown);
        Console.WriteLine($"Written: {output} and the raw rounds in {Path.ChangeExtension(output, ".jsonl")}");
        return measurements.Any(m => m.Failure is not null) ? 1 : 0;
    }

    /// <summary>
    /// The host process's side (<c>embed-host --client KIND --url URL …</c>): runs an
    /// <see cref="EmbeddingHost"/> on its main thread and prints a result line per round.
    /// </summary>
    public static int Serve(string[] args)
    {
        EmbedSettings settings = EmbedSettings.Parse(args);
        EmbeddingHost.Run(settings, round =>
        {
            Console.Out.WriteLine(ResultPrefix + round.ToJson());
            Console.Out.Flush();
        });
        return 0;
    }

    private static List<EmbedMeasurement> RunHost(EmbedSettings settings, IReadOnlyList<string> launcher)
    {
        // Under `dotnet Loop.Benchmarks.dll` the process path is the host; from the apphost it is the program itself.
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("The runner's own path is unknown.");
        var command = new List<string>(launcher) { self };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            command.Add(typeof(EmbedCommand).Assembly.Location);
        }

        command.Add("embed-host");
        command.AddRange(settings.ToArguments());
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        // As the suite's clients run: tier-1 code within the warm-up even on one core, workstation GC.
        start.Environment["DOTNET_TC_CallCountingDelayMs"] = "0";
        start.Environment["DOTNET_gcServer"] = "0";
        var rounds = new List<EmbedMeasurement>();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{settings.Client}: the host process did not start.");
        ProcessGuard.Track(process);
        TimeSpan limit = settings.Warmup + (Rounds(settings) * (settings.Duration + EmbeddingHost.Settle)) + TimeSpan.FromMinutes(2);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            Task<string?> read = process.StandardOutput.ReadLineAsync();
            // The runner's own thread: a bounded wait for a line from the host process.
            if (!read.Wait(limit - clock.Elapsed) || read.Result is not { } line)
            {
                break;
            }

            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                EmbedMeasurement round = EmbedMeasurement.FromJson(line[ResultPrefix.Length..]);
                rounds.Add(round);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {round.Client}, {EmbedReport.LoopName(round)}, rep {round.Repetition + 1}: {round.TicksLost} of {round.Ticks} ticks lost, late p99 {round.LatenessP99Ms:0.00} ms, longest RunOnce {round.LongestRunOnceMs:0.00} ms, {round.FetchesPerSecond:0} fetches/s"));
            }
            else
            {
                Console.WriteLine($"  [{settings.Client}] {line}");
            }
        }

        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }

        if (!process.HasExited || process.ExitCode != 0 || rounds.Count < Rounds(settings))
        {
            string why = process.HasExited ? $"the host process exited with {process.ExitCode} after {rounds.Count} of {Rounds(settings)} rounds (its error is printed above)" : "the host process gave no result in time and was stopped";
            rounds.Add(new EmbedMeasurement { Client = settings.Client, Body = settings.Body.ToString().ToLowerInvariant(), Repetition = rounds.Count / EmbeddingHost.Modes(settings, 0).Length, Failure = why });
        }

        return rounds;
    }

    private static int Rounds(EmbedSettings settings) => settings.Repetitions * EmbeddingHost.Modes(settings, 0).Length;

    private static List<string> Method(EmbedSettings settings)
    {
        double slice = settings.Budget.TotalMilliseconds;
        string budget = settings.Budget > TimeSpan.Zero
            ? Invariant($"`RunOnce(TimeSpan.Zero, TickBudget.FromTimeSlice({slice:0.##} ms))` in the \"budget {slice:0.##} ms\" rounds; in the \"to the frame\" rounds the slice is {slice:0.##} ms or the time left until the next tick, whichever is shorter, and with none left the host waits for its tick instead (a host that plans its frame); in both the host ticks the loop again at once while `BackendTimeout` is zero (work left over); `RunOnce(TimeSpan.Zero)` in the unbounded rounds")
            : "`RunOnce(TimeSpan.Zero)` (unbounded rounds only: `--budget-ms 0`)";
        return
        [
            Invariant($"Host: one thread sleeping in its own epoll set, which holds a timerfd firing at {settings.Hz} Hz (absolute, fixed period) and the loop's `BackendFileDescriptor`; the sleep's timeout is the loop's `BackendTimeout`. On each expiry it reads the count (n > 1: n − 1 ticks lost), records the lateness (now − the scheduled time of the oldest expiry read, CLOCK_MONOTONIC), spins for {settings.Work.TotalMilliseconds:0.##} ms of its own work and ticks the loop; on every other wake-up it ticks the loop alone. A tick of the loop is {budget}."),
            Invariant($"Load: {settings.Concurrency} workers started from the host thread after `loop.AttachCurrentThread()` (so every await in them resumes on it), each awaiting `FetchAsync` of {settings.Url} in a loop; the body buffered (a new array), pooled (`PooledBody`, the response disposed after use), written to the worker's own reused `ArrayBufferWriter<byte>` (`BodyWriter`) or counted as it streams (`StreamingCallback`), as the body column says; a host process per client and body; `MaxClients` = {settings.Concurrency}, nothing else set(`Loop.Benchmarks embed-host`), `DOTNET_TC_CallCountingDelayMs=0`, `DOTNET_gcServer=0`."),
            Invariant($"Rounds: {settings.Warmup.TotalSeconds:0.#} s of warm-up (not counted), then {settings.Repetitions} repetition(s) of a round of each mode for {settings.Duration.TotalSeconds:0.#} s, interleaved (the order rotated by one every repetition) under continuous load; each round starts with {EmbeddingHost.Settle.TotalSeconds:0.#} s that is ticked but not counted."),
            "late: the tick's lateness, p50/p99/max; longest RunOnce: the longest single call (wall clock), the GC's pauses and the host thread's CPU time inside it; most CPU in a RunOnce: the most CPU time the host thread spent in one call (the loop's own work, without the time the core was taken); × unbounded: the bounded round's fetches/s over the unbounded round's of the same repetition; gen 0/1/2 and GC pause: collections and `GC.GetTotalPauseDuration()` over the round; preempted: the host thread's involuntary context switches in the round (another thread, of this process or another, took its core; on a quiet machine few); off host thread: fetch continuations that resumed on another thread (0 expected).",
            "Targets (issue 14): with the budget, 0 ticks lost, p99 lateness under 2 ms, throughput at least 0.8× unbounded.",
        ];
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
