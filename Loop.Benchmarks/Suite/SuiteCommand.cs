using System.Globalization;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// <c>suite</c>: the load comparison users run (<c>make bench</c>, <c>make bench-quick</c>).
/// Starts nginx pinned to one core, the clients pinned to another, runs the scenarios with the
/// repetitions interleaved, and writes the report and its chart.
/// </summary>
/// <remarks>
/// <c>suite [--quick] [--out docs/benchmarks.md] [--url http://host:port (a running server with
/// /small and /large instead of nginx)] [--clients wrk,simple,simple-pooled,curl,curl-pooled,httpclient,curl-tool,undici]
/// [--concurrency 64,512 (only those rows)] [--repetitions 3] [--duration 5] [--warmup 8]
/// [--scenario-warmup 2] [--work-dir DIR]
/// [--note TEXT] [--default-tiering] [--alloc-profile]
/// [--no-startup | --startup-only] [--startup-seconds 15] [--startup-repetitions 3]
/// [--startup-env NAME=VALUE,…]</c>. Durations in seconds. After the steady-state rows, the
/// start-up rows (<see cref="StartupProbe"/>): each .NET client in a fresh process per
/// repetition, one core, default tiering; <c>--startup-env</c> adds variables to those
/// processes only (to measure a runtime setting's effect). The <c>-pooled</c> clients receive
/// bodies with <c>PooledBody</c> and run only the 1 MiB rows.
/// </remarks>
internal static class SuiteCommand
{
    private const int ManyConnections = SuiteRunner.ManyConnections;

    private static readonly string[] s_allClients = ["wrk", "simple", "simple-value", "simple-result", "simple-pooled", "curl", "curl-value", "curl-pooled", "httpclient", "curl-tool", "undici"];

    // The options that take a value, and those that are flags alone.
    private static readonly string[] s_valueOptions =
    [
        "--out", "--url", "--clients", "--concurrency", "--repetitions", "--duration", "--warmup", "--scenario-warmup",
        "--work-dir", "--note", "--startup-seconds", "--startup-repetitions", "--startup-env",
    ];

    private static readonly string[] s_flags = ["--quick", "--default-tiering", "--alloc-profile", "--no-startup", "--startup-only"];

    private static readonly string s_usage = string.Join(
        Environment.NewLine,
        "usage: Loop.Benchmarks suite [--quick] [--out docs/benchmarks.md] [--url http://host:port]",
        $"         [--clients {string.Join(',', s_allClients)}]",
        "         [--concurrency 64,512]",
        "         [--repetitions 3] [--duration 5] [--warmup 8] [--scenario-warmup 2] [--work-dir DIR]",
        "         [--note TEXT] [--default-tiering] [--alloc-profile]",
        "         [--no-startup | --startup-only] [--startup-seconds 15] [--startup-repetitions 3]",
        "         [--startup-env NAME=VALUE,...]",
        "Durations in seconds; --concurrency keeps only the rows at those concurrencies; the -value clients",
        "(one request object per worker, awaited with FetchValueAsync) skip the start-up runs; the -pooled clients",
        "(PooledBody = true, each response disposed after use) run only the 1 MiB rows.");

    public static int Run(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(s_usage);
            return 0;
        }

        if (CommandArgs.FirstUnknown(args, s_valueOptions, s_flags) is { } unknown)
        {
            // A misspelt option must not start a run of twenty minutes that ignores it.
            Console.Error.WriteLine($"suite: unknown option, or an option without its value: {unknown}");
            Console.Error.WriteLine(s_usage);
            return 2;
        }

        if (CommandArgs.Option(args, "--clients") is { } named && named.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(c => !s_allClients.Contains(c)) is { } stranger)
        {
            // A misspelt client would otherwise be left out without a word.
            Console.Error.WriteLine($"suite: unknown client: {stranger} (one of {string.Join(", ", s_allClients)})");
            Console.Error.WriteLine(s_usage);
            return 2;
        }

        ProcessGuard.Install();
        bool quick = args.Contains("--quick");
        // The quick run is a minute: one repetition, the clients without their FetchValueAsync
        // twins (the same code up to the caller's await), and no start-up runs (15 s a process).
        var settings = new SuiteSettings(
            Repetitions: (int)Number(args, "--repetitions", quick ? 1 : 3),
            Duration: TimeSpan.FromSeconds(Number(args, "--duration", quick ? 0.5 : 5)),
            FirstWarmup: TimeSpan.FromSeconds(Number(args, "--warmup", quick ? 2 : 8)),
            ScenarioWarmup: TimeSpan.FromSeconds(Number(args, "--scenario-warmup", quick ? 0.5 : 2)));
        string output = CommandArgs.Option(args, "--out") ?? Path.Combine("docs", "benchmarks.md");
        string workDirectory = CommandArgs.Option(args, "--work-dir") ?? Path.Combine(Path.GetTempPath(), "loop-bench");
        string defaultClients = string.Join(',', quick ? s_allClients.Where(c => !InProcessClient.IsValue(c)) : s_allClients);
        HashSet<string> wanted = [.. (CommandArgs.Option(args, "--clients") ?? defaultClients).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        bool defaultTiering = args.Contains("--default-tiering");
        Directory.CreateDirectory(workDirectory);
        bool startupOnly = args.Contains("--startup-only");
        bool startup = startupOnly || (!args.Contains("--no-startup") && !quick);
        int startupRepetitions = (int)Number(args, "--startup-repetitions", settings.Repetitions);
        double startupSeconds = Number(args, "--startup-seconds", 3 * StartupProbe.SteadySeconds);
        Dictionary<string, string> startupEnvironment = (CommandArgs.Option(args, "--startup-env") ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : string.Empty);
        // The start-up runs fetch 13 B, which the pooled kinds skip; the -value kinds run the same
        // code as their plain kind until the caller's await, so they would repeat its start-up.
        string[] startupKinds = [.. InProcessClient.Kinds.Where(k => wanted.Contains(k) && !InProcessClient.IsPooled(k) && !InProcessClient.IsValue(k))];

        var notes = new List<string>();
        var skipped = new List<string>();
        var machine = MachineInfo.Describe();
        DateTimeOffset date = DateTimeOffset.UtcNow;
        (IReadOnlyList<string> clientLauncher, IReadOnlyList<string> serverLauncher, string pinning) = Pinning();
        List<Scenario> scenarios = startupOnly ? [] : Scenarios(quick, skipped);
        if (CommandArgs.Option(args, "--concurrency") is { } only)
        {
            int[] kept = [.. only.Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))];
            scenarios.RemoveAll(s => !kept.Contains(s.Concurrency));
            skipped.Add($"rows at other concurrencies than {only} (`--concurrency {only}`).");
            if (!startupOnly && !kept.Contains(StartupProbe.Concurrency))
            {
                startup = false;
            }
        }

        if (startupOnly)
        {
            skipped.Add("the steady-state rows (`--startup-only`): only the start-up runs.");
        }
        else if (!startup && quick && !args.Contains("--no-startup"))
        {
            skipped.Add("the start-up runs (15 s a fresh process): this is the quick run; `make bench` runs them, `--startup-only` runs only them.");
        }
        else if (!startup)
        {
            skipped.Add(string.Create(CultureInfo.InvariantCulture, $"the start-up runs (fresh processes at concurrency {StartupProbe.Concurrency}): `--no-startup`, or a `--concurrency` without {StartupProbe.Concurrency}."));
        }

        if (startup && startupKinds.Length == 0)
        {
            startup = false;
            skipped.Add("the start-up runs: no .NET client among `--clients`.");
        }

        string[] valueKinds = [.. InProcessClient.Kinds.Where(k => wanted.Contains(k) && InProcessClient.IsValue(k))];
        if (startup && valueKinds.Length > 0)
        {
            skipped.Add($"{string.Join(" and ", valueKinds.Select(InProcessClient.DisplayName))} in the start-up runs: the same code as the plain client up to the caller's await.");
        }

        string[] results = [.. InProcessClient.Kinds.Where(k => wanted.Contains(k) && InProcessClient.IsResult(k))];
        if (results.Length > 0 && scenarios.Any(s => !InProcessClient.RunsScenario(results[0], s)))
        {
            skipped.Add($"{string.Join(" and ", results.Select(InProcessClient.DisplayName))} outside the 13 B keep-alive rows: it shows what a caller who streams small bodies allocates in steady state; a new connection allocates its own objects whatever the caller does.");
        }

        string[] pooled = [.. InProcessClient.Kinds.Where(k => wanted.Contains(k) && InProcessClient.IsPooled(k))];
        if (pooled.Length > 0 && scenarios.Any(s => !InProcessClient.RunsScenario(pooled[0], s)))
        {
            skipped.Add($"{string.Join(" and ", pooled.Select(InProcessClient.DisplayName))} at 13 B (and in the start-up runs): a 13-byte body never reaches the large object heap, so a pooled body changes nothing there; they run the 1 MiB rows.");
        }

        long? files = FileLimit.Raise(65_536);
        // Each process needs its own: the client one per connection, nginx's worker sets its own (worker_rlimit_nofile).
        if (scenarios.Any(s => s.Concurrency >= ManyConnections) && files is { } limit && limit < ManyConnections + 1024)
        {
            scenarios.RemoveAll(s => s.Concurrency >= ManyConnections);
            skipped.Add(string.Create(CultureInfo.InvariantCulture, $"the {ManyConnections:N0}-connection rows: the open-file limit is {limit:N0} and could not be raised (run as root, or raise it with `ulimit -n 65536`)."));
        }

        NginxServer? server = null;
        var clients = new List<IBenchClient>();
        try
        {
            string baseUrl;
            if (CommandArgs.Option(args, "--url") is { } url)
            {
                baseUrl = url;
                machine.Add(("Server", $"{url} (given with --url), pinned by whoever started it"));
            }
            else
            {
                string nginx = NginxServer.Find() ?? throw new InvalidOperationException("nginx is not installed (Debian/Ubuntu: apt-get install nginx); `make bench` installs it when run as root.");
                server = NginxServer.Start(nginx, workDirectory, serverLauncher);
                baseUrl = server.BaseUrl;
                machine.Add(("nginx", $"{server.Version}, one worker, configuration written to {Path.Combine(server.Directory, "nginx.conf")}"));
                Console.WriteLine($"nginx ({server.Version}) listening at {baseUrl}; {pinning}");
            }

            machine.Add(("Pinning", pinning));
            if (scenarios.Count > 0)
            {
                AddClients(clients, wanted, workDirectory, clientLauncher, defaultTiering, args.Contains("--alloc-profile"), settings, machine, notes);
            }

            var method = scenarios.Count > 0 ? Method(settings, defaultTiering, server is not null, pooled.Length > 0) : [];
            var runner = new SuiteRunner(clients, baseUrl, settings, Console.Out, server is null ? null : server.AcceptedConnections);
            List<Measurement> measurements = runner.Run(scenarios);
            List<StartupMeasurement> startupRuns = [];
            if (startup)
            {
                // The long-lived children are idle by now; the fresh ones have the client core to themselves.
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"== Start-up: a fresh process per client and repetition, {startupSeconds:0.#} s each"));
                startupRuns = StartupProbe.Run(startupKinds, baseUrl, clientLauncher, startupEnvironment, startupRepetitions, startupSeconds, Console.Out);
            }

            string directory = Path.GetDirectoryName(Path.GetFullPath(output))!;
            Directory.CreateDirectory(directory);
            string chart = Path.ChangeExtension(Path.GetFileName(output), ".svg");
            string startupChart = Path.GetFileNameWithoutExtension(output) + "-startup.svg";
            var report = new BenchmarkReport
            {
                Command = CommandLine(args),
                Date = date,
                Note = CommandArgs.Option(args, "--note"),
                Machine = machine,
                Method = method,
                Skipped = skipped,
                Notes = notes,
                Scenarios = scenarios,
                Clients = [.. clients.Select(c => c.Name).Union(startupKinds.Select(InProcessClient.DisplayName))],
                Measurements = measurements,
                ChartFile = scenarios.Count > 0 ? chart : null,
                Startup = startupRuns,
                StartupMethod = startup ? StartupMethod(startupRuns, startupRepetitions, startupSeconds, startupEnvironment, pinning) : [],
                StartupChartFile = startupRuns.Count > 0 ? startupChart : null,
            };
            var written = new List<string> { output };
            if (report.ChartFile is not null)
            {
                File.WriteAllText(Path.Combine(directory, chart), report.ChartSvg());
                written.Add(Path.Combine(directory, chart));
            }

            if (report.StartupChartFile is not null)
            {
                File.WriteAllText(Path.Combine(directory, startupChart), report.StartupChartSvg());
                written.Add(Path.Combine(directory, startupChart));
            }

            File.WriteAllText(output, report.ToMarkdown());
            // One JSON line per measurement; the start-up runs' lines carry their buckets ("counts").
            File.WriteAllLines(Path.ChangeExtension(output, ".jsonl"), measurements.Select(m => m.ToJson()).Concat(startupRuns.Select(m => m.ToJson())));
            Console.WriteLine();
            Console.WriteLine(report.ToMarkdown());
            Console.WriteLine($"Written: {string.Join(", ", written)} and the raw measurements in {Path.ChangeExtension(output, ".jsonl")}");
            return measurements.Any(m => m.Failure is not null) || startupRuns.Any(m => m.Failure is not null) ? 1 : 0;
        }
        finally
        {
            foreach (IBenchClient client in clients)
            {
                client.Dispose();
            }

            server?.Dispose();
            ProcessGuard.KillAll();
        }
    }

    /// <summary>The rows: the full matrix minus the rows that make no sense, each with its reason, or the quick selection.</summary>
    internal static List<Scenario> Scenarios(bool quick, List<string> skipped)
    {
        if (quick)
        {
            skipped.Add("this is the quick run: keep-alive 13 B at concurrency 64 and 512, `Connection: close` at 64, 1 MiB at 8, one repetition, no `FetchValueAsync` clients unless `--clients` names them; `make bench` runs every row.");
            return [Scenario.Small(64), Scenario.Small(512), Scenario.Small(64, close: true), Scenario.Large(8)];
        }

        skipped.Add("13 B with `Connection: close` at 10,000: opening and closing 10,000 connections at once exhausts the loopback's ephemeral ports within seconds (TIME_WAIT) and measures that, not the client.");
        skipped.Add("1 MiB at 512 and 10,000: 0.5 to 10 GiB in flight per round measures memory bandwidth, not the client.");
        skipped.Add("1 MiB with `Connection: close`: one more handshake per MiB is within the noise of the keep-alive rows.");
        return
        [
            Scenario.Small(1), Scenario.Small(64), Scenario.Small(512), Scenario.Small(ManyConnections),
            Scenario.Small(1, close: true), Scenario.Small(64, close: true), Scenario.Small(512, close: true),
            Scenario.Large(1), Scenario.Large(8), Scenario.Large(64),
        ];
    }

    private static void AddClients(List<IBenchClient> clients, HashSet<string> wanted, string workDirectory, IReadOnlyList<string> launcher, bool defaultTiering, bool allocationProfile, SuiteSettings settings, List<(string, string)> machine, List<string> notes)
    {
        var environment = new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" };
        if (!defaultTiering)
        {
            environment["DOTNET_TC_CallCountingDelayMs"] = "0";
        }

        foreach (string name in s_allClients.Where(wanted.Contains))
        {
            switch (name)
            {
                case "wrk":
                    if (Tools.Find("wrk") is { } wrk)
                    {
                        clients.Add(new WrkClient(wrk, launcher));
                        machine.Add(("wrk", Tools.FirstLineOf(wrk, "-v")));
                    }
                    else
                    {
                        notes.Add("wrk is not installed (apt-get install wrk): no ceiling, so no × wrk ratios.");
                    }

                    break;
                case "curl-tool":
                    if (Tools.Find("curl") is { } curl)
                    {
                        clients.Add(new CurlToolClient(curl, launcher));
                        machine.Add(("curl", Tools.FirstLineOf(curl, "--version")));
                        notes.Add(string.Create(CultureInfo.InvariantCulture, $"`curl -Z` runs at most {CurlToolClient.ParallelMax} transfers at once (`--parallel-max` allows no more), so its rows at higher concurrency run at {CurlToolClient.ParallelMax}; it takes a count, not a time, sized from its warm-up rate."));
                    }
                    else
                    {
                        notes.Add("curl is not installed (apt-get install curl): no `curl -Z` rows.");
                    }

                    break;
                case "undici":
                    if (UndiciClient.TryCreate(workDirectory, launcher, settings.ScenarioWarmup, out string? why) is { } undici)
                    {
                        clients.Add(undici);
                        machine.Add(("Node", undici.Version));
                    }
                    else
                    {
                        notes.Add(why!);
                    }

                    break;
                default:
                    clients.Add(ChildProcessClient.Start(name, launcher, environment, allocationProfile));
                    break;
            }
        }
    }

    private static List<string> Method(SuiteSettings settings, bool defaultTiering, bool nginx, bool pooled)
    {
        var method = new List<string>();
        if (nginx)
        {
            method.Add("Server: nginx, one worker, `return 200` of 13 bytes at /small and a 1 MiB file at /large, keep-alive with no request limit, access log off.");
        }

        method.Add("Clients: each .NET client in a process of its own (`Loop.Benchmarks bench-client`), the same for its whole run, with `MaxClients` (ours) or `MaxConnectionsPerServer` (HttpClient) set to the concurrency and nothing else; one worker per concurrent request, each fetching in a loop and buffering the body (ours: `response.Body`, a new array per response; HttpClient: `ReadAsByteArrayAsync`), a response counted as good when its status is 200 and its body has the scenario's length; wrk with one thread and one connection per concurrent request; undici with a `Pool` of that many connections.");
        if (pooled)
        {
            method.Add("Pooled body (1 MiB rows only): the same client with `PooledBody = true` on every request, so the body is received into memory rented from the client's pool; the worker checks the status and the body's length (`BodyMemory`, no copy), then disposes the response, which gives the memory back.");
        }

        method.Add(defaultTiering
            ? "Runtime settings: defaults (`--default-tiering`): the .NET clients may run tier-0 code during the first seconds."
            : "Runtime settings: `DOTNET_TC_CallCountingDelayMs=0` for every .NET client alike (tier-1 code within the warm-up even when pinned to one core); `DOTNET_gcServer=0`.");
        method.Add(string.Create(CultureInfo.InvariantCulture, $"Warm-up: {settings.FirstWarmup.TotalSeconds:0.#} s of load before a .NET client's first measurement, {settings.ScenarioWarmup.TotalSeconds:0.#} s before each further scenario (new client, new connections); at 10,000 connections each client closes its connections after each repetition (so that nginx holds one client's at a time) and warms up for {Math.Max(settings.ScenarioWarmup.TotalSeconds, settings.FirstWarmup.TotalSeconds):0.#} s before every repetition; node warms up in each of its runs; wrk needs none."));
        method.Add(string.Create(CultureInfo.InvariantCulture, $"Repetitions: {settings.Repetitions} of {settings.Duration.TotalSeconds:0.#} s per client and scenario, interleaved (A B C … A B C …); tables show the median and min–max of requests/s and medians of the rest; ratios are taken inside each repetition, then their median."));
        method.Add("CPU/req: the client process's user + system time over the measured window (the .NET clients from `Environment.CpuUsage` in-process, undici from `process.cpuUsage()`, wrk and `curl -Z` from getrusage of the waited-for process, start-up included), divided by the requests. alloc/req: `GC.GetTotalAllocatedBytes` over the window (.NET clients only). gen 2 /1k: gen-2 collections in the client's process over the window (`GC.CollectionCount(2)`, which counts those the large object heap triggers) per 1,000 requests; GC pause /s: `GC.GetTotalPauseDuration()` over the window per second of it (.NET clients only; the forced collection of the 10,000-connection rows' memory snapshot is not counted).");
        if (nginx)
        {
            method.Add("connections: the connections nginx accepted (stub_status) during a client's repetition, median; the first repetition includes the warm-up's (every repetition at 10,000). A client that keeps its connections alive opens none once warm; a high count at keep-alive means it closes and reopens them.");
        }

        method.Add("open conns, RSS/conn, heap/conn (the 10,000-connection rows): the client's descriptors, resident memory and live heap after a full collection while all its connections are open, less the same before it opened them, per open connection; heap/conn is the median, RSS/conn the largest of the repetitions (the first, as a rule: the process keeps the memory that one made resident, and later repetitions reuse it).");
        method.Add("Latency: p50 and p99 of each request from its start to its whole body (wrk from `--latency`, `curl -Z` from `-w %{time_total}`); don't read much into concurrency 1, which measures how fast an idle core wakes up.");
        return method;
    }

    private static List<string> StartupMethod(List<StartupMeasurement> runs, int repetitions, double seconds, Dictionary<string, string> environment, string pinning)
    {
        (double first, double steady) = StartupProbe.Windows(seconds);
        string extra = environment.Count == 0 ? string.Empty : $", and {string.Join(", ", environment.Select(e => $"`{e.Key}={e.Value}`"))} (`--startup-env`)";
        var method = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"Each .NET client in a fresh process (`Loop.Benchmarks bench-startup`) per repetition, {repetitions} each, clients interleaved; {pinning}; `DOTNET_PROCESSOR_COUNT=1` and no `DOTNET_TC_*`, `DOTNET_TieredCompilation`, `DOTNET_TieredPGO` or `DOTNET_ReadyToRun` variables (the runtime's default tiering, as a user's process on a one-CPU container gets it){extra}."),
            string.Create(CultureInfo.InvariantCulture, $"Load: 13 B keep-alive at concurrency {StartupProbe.Concurrency} (`MaxClients` / `MaxConnectionsPerServer` {StartupProbe.Concurrency}, nothing else set), from the moment the runner starts the process (the runtime's start-up, JIT and connecting count) for {seconds:0.#} s, responses counted per {StartupProbe.Bucket.TotalSeconds:0.#} s."),
            string.Create(CultureInfo.InvariantCulture, $"first {first:0.#} s: the responses completed in the first {first:0.#} s after the process started, per second; steady: the last {steady:0.#} s; the ratio is taken per process, then the median (min–max); per CPU-second: the same ratio of responses per second of the process's CPU time (all its threads, the JIT's included), which holds when other processes share the core. 0.9× steady from: the end of the first {StartupProbe.Bucket.TotalSeconds:0.#} s at 0.9× that process's steady rate or more. first response: from the process's start."),
            $"Loop assemblies: {StartupProbe.AssemblyForm()}.",
        };
        return method;
    }

    /// <summary>Launchers (taskset and its arguments, or nothing) for the clients and the server, and how the report describes them.</summary>
    internal static (IReadOnlyList<string> Client, IReadOnlyList<string> Server, string Description) Pinning()
    {
        List<int> cpus = AllowedCpus();
        if (cpus.Count >= 2 && Tools.Find("taskset") is { } taskset)
        {
            string client = cpus[0].ToString(CultureInfo.InvariantCulture);
            string server = cpus[^1].ToString(CultureInfo.InvariantCulture);
            return ([taskset, "-c", client], [taskset, "-c", server], $"server on CPU {server}, every client on CPU {client} (taskset)");
        }

        return ([], [], cpus.Count < 2 ? "not pinned: only one CPU is available" : "not pinned: taskset is not installed (util-linux)");
    }

    private static List<int> AllowedCpus()
    {
        if (File.Exists("/proc/self/status"))
        {
            string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
            if (line is not null)
            {
                var cpus = new List<int>();
                foreach (string range in line["Cpus_allowed_list:".Length..].Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    string[] ends = range.Split('-');
                    int first = int.Parse(ends[0], CultureInfo.InvariantCulture);
                    int last = int.Parse(ends[^1], CultureInfo.InvariantCulture);
                    for (int cpu = first; cpu <= last; cpu++)
                    {
                        cpus.Add(cpu);
                    }
                }

                return cpus;
            }
        }

        return [.. Enumerable.Range(0, Environment.ProcessorCount)];
    }

    private static string CommandLine(string[] args) =>
        Environment.GetEnvironmentVariable("LOOP_BENCH_COMMAND") is { Length: > 0 } make ? make : "Loop.Benchmarks suite " + string.Join(' ', args);

    private static double Number(string[] args, string name, double fallback) =>
        CommandArgs.Option(args, name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
