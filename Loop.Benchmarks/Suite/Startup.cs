using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Runtime.InteropServices;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// What one fresh client process did from its start: responses completed per bucket of
/// <see cref="BucketSeconds"/> since the runner started the process. The JSON line a
/// <c>bench-startup</c> child prints.
/// </summary>
internal sealed record StartupMeasurement
{
    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The client's name as the report shows it.</summary>
    public required string Client { get; init; }

    /// <summary>The repetition, from 0 (a new process each).</summary>
    public int Repetition { get; init; }

    /// <summary>The length of a bucket, seconds.</summary>
    public double BucketSeconds { get; init; }

    /// <summary>Responses with status 200 that completed in each bucket, from the process's start.</summary>
    public long[] Counts { get; init; } = [];

    /// <summary>
    /// The process's CPU time (user + system, all threads: the JIT's included) in each bucket,
    /// milliseconds. Responses per CPU-second tell how fast the code is at that moment even when
    /// other processes take part of the core.
    /// </summary>
    public double[] CpuMs { get; init; } = [];

    /// <summary>Requests that failed or answered with another status, over the whole run.</summary>
    public long Errors { get; init; }

    /// <summary>From the process's start to its <c>Main</c>, milliseconds (the runtime's own start-up).</summary>
    public double? MainMs { get; init; }

    /// <summary>From the process's start to the first response, milliseconds.</summary>
    public double? FirstResponseMs { get; init; }

    /// <summary>Why there are no figures, when the child failed.</summary>
    public string? Failure { get; init; }

    /// <summary>The run's length, seconds.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double Seconds => Counts.Length * BucketSeconds;

    /// <summary>One JSON line.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads a line written by <see cref="ToJson"/>.</summary>
    public static StartupMeasurement FromJson(string line) =>
        JsonSerializer.Deserialize<StartupMeasurement>(line, s_json) ?? throw new FormatException("An empty start-up line.");

    /// <summary>Requests per second over [<paramref name="from"/>, <paramref name="to"/>) seconds after the start (whole buckets).</summary>
    public double Rate(double from, double to)
    {
        int first = (int)Math.Round(from / BucketSeconds);
        int last = Math.Min(Counts.Length, (int)Math.Round(to / BucketSeconds));
        long sum = 0;
        for (int i = first; i < last; i++)
        {
            sum += Counts[i];
        }

        return last > first ? sum / ((last - first) * BucketSeconds) : double.NaN;
    }

    /// <summary>Responses per CPU-second of the process over [<paramref name="from"/>, <paramref name="to"/>) seconds after the start; NaN without CPU figures.</summary>
    public double RatePerCpu(double from, double to)
    {
        int first = (int)Math.Round(from / BucketSeconds);
        int last = Math.Min(Math.Min(Counts.Length, CpuMs.Length), (int)Math.Round(to / BucketSeconds));
        long sum = 0;
        double cpu = 0;
        for (int i = first; i < last; i++)
        {
            sum += Counts[i];
            cpu += CpuMs[i];
        }

        return cpu > 0 ? sum / (cpu / 1000) : double.NaN;
    }
}

/// <summary>One client's line of the start-up table: medians over the fresh processes.</summary>
internal sealed record StartupSummary(string Client, int Runs, double FirstRate, double SteadyRate, double Ratio, double RatioMin, double RatioMax, double? NinetyPercentAt, double? FirstResponseMs, long Errors, string? Failure, double? CpuRatio = null);

/// <summary>
/// Time to steady state: each .NET client in a fresh process per repetition, pinned to one core
/// with <c>ProcessorCount</c> = 1 and the runtime's default tiering (no <c>DOTNET_TC_*</c>), at
/// 13 B keep-alive with concurrency 64, counting responses per half second from the process's
/// start. The child's side is <see cref="Serve"/> (<c>bench-startup</c>); the runner's is <see cref="Run"/>.
/// </summary>
internal static class StartupProbe
{
    /// <summary>The bucket length.</summary>
    public static readonly TimeSpan Bucket = TimeSpan.FromSeconds(0.5);

    /// <summary>The concurrency of the start-up rows (and <c>MaxClients</c>).</summary>
    public const int Concurrency = 64;

    /// <summary>The early window the target is about: the first 3 s after the process started.</summary>
    public const double FirstSeconds = 3;

    /// <summary>The steady window: the last 5 s of the run.</summary>
    public const double SteadySeconds = 5;

    /// <summary>Prefixes of variables the runner removes from the children's environment, so that they run with the runtime's defaults.</summary>
    public static readonly string[] TieringVariables = ["DOTNET_TC_", "DOTNET_TieredCompilation", "DOTNET_TieredPGO", "DOTNET_ReadyToRun", "DOTNET_OSR_", "DOTNET_TC_QuickJit", "COMPlus_"];

    /// <summary>The early and steady windows for a run of <paramref name="seconds"/>: 3 s and the last 5 s, shorter (a third each) for runs under 15 s.</summary>
    public static (double First, double Steady) Windows(double seconds) =>
        seconds >= 3 * SteadySeconds ? (FirstSeconds, SteadySeconds) : (Math.Min(FirstSeconds, seconds / 3), seconds / 3);

    /// <summary>
    /// Runs <paramref name="kinds"/> (simple, curl, httpclient) in turn, <paramref name="repetitions"/>
    /// times, each a new process started under <paramref name="launcher"/> with ProcessorCount 1,
    /// the default tiering and <paramref name="extraEnvironment"/>, for <paramref name="seconds"/>.
    /// </summary>
    public static List<StartupMeasurement> Run(IReadOnlyList<string> kinds, string baseUrl, IReadOnlyList<string> launcher, IReadOnlyDictionary<string, string> extraEnvironment, int repetitions, double seconds, TextWriter progress)
    {
        var results = new List<StartupMeasurement>();
        for (int repetition = 0; repetition < repetitions; repetition++)
        {
            foreach (string kind in kinds)
            {
                StartupMeasurement m = RunOne(kind, baseUrl, launcher, extraEnvironment, repetition, seconds) with { Repetition = repetition };
                results.Add(m);
                progress.WriteLine(m.Failure is not null
                    ? $"   #{repetition} {m.Client,-22} failed: {m.Failure}"
                    : string.Create(CultureInfo.InvariantCulture, $"   #{repetition} {m.Client,-22} first response {m.FirstResponseMs,6:N0} ms  req/s per {Bucket.TotalSeconds:0.#} s: {string.Join(' ', m.Counts.Select(c => (c / m.BucketSeconds).ToString("0", CultureInfo.InvariantCulture)))}"));
            }
        }

        return results;
    }

    /// <summary>Summaries per client, in the order of <paramref name="clients"/>.</summary>
    public static List<StartupSummary> Summarize(IReadOnlyList<StartupMeasurement> measurements, IReadOnlyList<string> clients)
    {
        var lines = new List<StartupSummary>();
        foreach (string client in clients)
        {
            var runs = measurements.Where(m => m.Client == client).ToList();
            if (runs.Count == 0)
            {
                continue;
            }

            var good = runs.Where(m => m.Failure is null && m.Counts.Sum() > 0).ToList();
            long errors = runs.Sum(m => m.Errors);
            if (good.Count == 0)
            {
                lines.Add(new StartupSummary(client, 0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, null, null, errors, runs.Select(m => m.Failure).FirstOrDefault(f => f is not null) ?? "no request succeeded"));
                continue;
            }

            var firsts = new List<double?>();
            var steadies = new List<double?>();
            var ratios = new List<double>();
            var ninety = new List<double?>();
            var cpuRatios = new List<double?>();
            foreach (StartupMeasurement m in good)
            {
                (double first, double steady) = Windows(m.Seconds);
                double early = m.Rate(0, first);
                double late = m.Rate(m.Seconds - steady, m.Seconds);
                cpuRatios.Add(m.RatePerCpu(0, first) / m.RatePerCpu(m.Seconds - steady, m.Seconds));
                firsts.Add(early);
                steadies.Add(late);
                ratios.Add(early / late);
                int reached = Array.FindIndex(m.Counts, c => c / m.BucketSeconds >= 0.9 * late);
                ninety.Add(reached >= 0 ? (reached + 1) * m.BucketSeconds : null);
            }

            lines.Add(new StartupSummary(
                client,
                good.Count,
                ResultSummary.Median(firsts) ?? double.NaN,
                ResultSummary.Median(steadies) ?? double.NaN,
                ResultSummary.Median(ratios.Select(r => (double?)r)) ?? double.NaN,
                ratios.Min(),
                ratios.Max(),
                ResultSummary.Median(ninety),
                ResultSummary.Median(good.Select(m => m.FirstResponseMs)),
                errors,
                null,
                ResultSummary.Median(cpuRatios)));
        }

        return lines;
    }

    /// <summary>The median rate (requests/s) in each bucket over the runs of <paramref name="client"/>; empty when it has none.</summary>
    public static double[] MedianRates(IReadOnlyList<StartupMeasurement> measurements, string client)
    {
        var good = measurements.Where(m => m.Client == client && m.Failure is null && m.Counts.Length > 0).ToList();
        if (good.Count == 0)
        {
            return [];
        }

        int buckets = good.Min(m => m.Counts.Length);
        return [.. Enumerable.Range(0, buckets).Select(i => ResultSummary.Median(good.Select(m => (double?)(m.Counts[i] / m.BucketSeconds))) ?? 0)];
    }

    /// <summary>
    /// The child's side (<c>bench-startup --client KIND --url BASE [--seconds 15] [--origin TIMESTAMP]</c>):
    /// fetches /small with 64 at once until <c>--seconds</c> after the origin (the runner's
    /// <see cref="Stopwatch"/> timestamp just before it started this process, the same monotonic
    /// clock in every process; <paramref name="mainTimestamp"/> when not given) and prints one
    /// result line. Nothing is parsed or serialised before the load starts.
    /// </summary>
    public static int Serve(string[] args, long mainTimestamp)
    {
        string? kind = CommandArgs.Option(args, "--client");
        string? url = CommandArgs.Option(args, "--url");
        if (kind is null || url is null)
        {
            Console.Error.WriteLine("bench-startup needs --client simple|curl|httpclient and --url http://host:port");
            return 2;
        }

        double seconds = CommandArgs.Option(args, "--seconds") is { } s ? double.Parse(s, CultureInfo.InvariantCulture) : 3 * SteadySeconds;
        long origin = CommandArgs.Option(args, "--origin") is { } o ? long.Parse(o, CultureInfo.InvariantCulture) : mainTimestamp;
        StartupMeasurement m = Measure(kind, url, Concurrency, seconds, origin, mainTimestamp);
        Console.Out.WriteLine(ChildProcessClient.ResultPrefix + m.ToJson());
        Console.Out.Flush();
        return m.Failure is null ? 0 : 1;
    }

    /// <summary>
    /// Runs a new <paramref name="kind"/> client at <paramref name="concurrency"/> against
    /// <paramref name="baseUrl"/>/small until <paramref name="seconds"/> after <paramref name="origin"/>,
    /// in this process, counting responses per <see cref="Bucket"/> from the origin (those with a
    /// body of <paramref name="bodyBytes"/>; any other is an error).
    /// </summary>
    public static StartupMeasurement Measure(string kind, string baseUrl, int concurrency, double seconds, long origin, long mainTimestamp, string path = "/small", long bodyBytes = Scenario.SmallBody)
    {
        int buckets = (int)Math.Ceiling(seconds / Bucket.TotalSeconds);
        var timeline = new Timeline(origin, Bucket, buckets);
        long deadline = origin + (long)(buckets * Bucket.TotalSeconds * Stopwatch.Frequency);
        using var client = new InProcessClient(kind);
        // The process's CPU time at the end of each bucket, read by a thread that sleeps in between.
        double[] cpuAt = new double[buckets];
        var sampler = new Thread(() =>
        {
            for (int i = 0; i < buckets; i++)
            {
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), origin + (long)((i + 1) * Bucket.TotalSeconds * Stopwatch.Frequency));
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }

                cpuAt[i] = Environment.CpuUsage.TotalTime.TotalMilliseconds;
            }
        })
        { IsBackground = true, Name = "startup CPU sampler" };
        sampler.Start();
        try
        {
            (long _, long errors) = client.RunUntil(new Scenario(path, bodyBytes, concurrency, Close: false), baseUrl, deadline, timeline);
            long first = timeline.First;
            bool sampled = sampler.Join(TimeSpan.FromSeconds(5));
            return new StartupMeasurement
            {
                Client = client.Name,
                BucketSeconds = Bucket.TotalSeconds,
                Counts = timeline.Counts,
                CpuMs = sampled ? [.. cpuAt.Select((c, i) => i == 0 ? c : c - cpuAt[i - 1])] : [],
                Errors = errors,
                MainMs = Milliseconds(mainTimestamp - origin),
                FirstResponseMs = first == 0 ? null : Milliseconds(first - origin),
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The runner reports it as this client's failure and goes on with the others.
            return new StartupMeasurement { Client = client.Name, BucketSeconds = Bucket.TotalSeconds, Failure = $"{e.GetType().Name}: {e.Message}" };
        }
    }

    private static StartupMeasurement RunOne(string kind, string baseUrl, IReadOnlyList<string> launcher, IReadOnlyDictionary<string, string> extraEnvironment, int repetition, double seconds)
    {
        string name = InProcessClient.DisplayName(kind);
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("The runner's own path is unknown.");
        var command = new List<string>(launcher) { self };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            command.Add(typeof(StartupProbe).Assembly.Location);
        }

        command.AddRange(["bench-startup", "--client", kind, "--url", baseUrl, "--seconds", seconds.ToString(CultureInfo.InvariantCulture)]);
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (string variable in start.Environment.Keys.Where(k => TieringVariables.Any(p => k.StartsWith(p, StringComparison.OrdinalIgnoreCase))).ToList())
        {
            start.Environment.Remove(variable);
        }

        // One CPU, as a container with a one-CPU limit: the runtime's tiering waits ten times longer there.
        start.Environment["DOTNET_PROCESSOR_COUNT"] = "1";
        foreach ((string variable, string value) in extraEnvironment)
        {
            start.Environment[variable] = value;
        }

        // The origin goes last, taken as close to the start as can be.
        start.ArgumentList.Add("--origin");
        start.ArgumentList.Add(Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture));
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{kind}: the child process did not start.");
        ProcessGuard.Track(process);
        TimeSpan limit = TimeSpan.FromSeconds(seconds) + TimeSpan.FromMinutes(1);
        var clock = Stopwatch.StartNew();
        StartupMeasurement? result = null;
        while (result is null && clock.Elapsed < limit)
        {
            Task<string?> read = process.StandardOutput.ReadLineAsync();
            // The runner's own thread: a bounded wait for a line from the child.
            if (!read.Wait(limit - clock.Elapsed) || read.Result is not { } line)
            {
                break;
            }

            if (line.StartsWith(ChildProcessClient.ResultPrefix, StringComparison.Ordinal))
            {
                result = StartupMeasurement.FromJson(line[ChildProcessClient.ResultPrefix.Length..]);
            }
            else
            {
                Console.WriteLine($"  [{name}] {line}");
            }
        }

        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill(entireProcessTree: true);
        }

        return result ?? new StartupMeasurement { Client = name, Repetition = repetition, BucketSeconds = Bucket.TotalSeconds, Failure = "no result in time; the child was stopped" };
    }

    /// <summary>
    /// Whether the Loop assemblies this program loads are ReadyToRun images (precompiled) or IL
    /// only (JIT at first call), and the same of the program itself.
    /// </summary>
    public static string AssemblyForm()
    {
        var assemblies = new[] { typeof(Loop.Http.SimpleAsyncHttpClient).Assembly, typeof(Loop.IOLoop).Assembly, typeof(Loop.Curl.CurlAsyncHttpClient).Assembly };
        int precompiled = assemblies.Count(IsReadyToRun);

        // A composite image (PublishReadyToRunComposite) holds the code of every assembly in one
        // file beside them; self-contained, the framework's own code is in it too.
        bool composite = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.r2r.dll").Any();
        return precompiled == assemblies.Length && composite ? "one composite ReadyToRun image with the .NET libraries (self-contained; hot methods are still rejitted at tier 1)"
            : precompiled == assemblies.Length && IsReadyToRun(typeof(StartupProbe).Assembly) ? "ReadyToRun images compiled with this program, which is ReadyToRun too (hot methods are still rejitted at tier 1)"
            : precompiled == assemblies.Length ? $"ReadyToRun images, as the library packages carry them for {RuntimeInformation.RuntimeIdentifier} (precompiled; hot methods are still rejitted at tier 1); this program IL, as an application's build is"
            : precompiled == 0 ? "IL only (each method is jitted at its first call)"
            : string.Create(CultureInfo.InvariantCulture, $"{precompiled} of {assemblies.Length} ReadyToRun");
    }

    private static bool IsReadyToRun(System.Reflection.Assembly assembly)
    {
        using var stream = File.OpenRead(assembly.Location);
        using var reader = new System.Reflection.PortableExecutable.PEReader(stream);
        return reader.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
    }

    private static double Milliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
