using System.Globalization;
using System.Text;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// The results document (<c>docs/benchmarks.md</c>): what was run, on what, how, a chart, a table
/// of ratios at a glance, and one table per scenario. Plain Markdown tables, one line per client,
/// so that both people and the smoke test can read them.
/// </summary>
internal sealed class BenchmarkReport
{
    /// <summary>What a cell shows when there is no figure.</summary>
    public const string None = "—";

    /// <summary>The columns of a scenario's table, in order (the MB/s column only in 1 MiB scenarios).</summary>
    public static readonly string[] Columns = ["client", "req/s (median, min–max)", "MB/s", "p50", "p99", "CPU/req", "alloc/req", Gen2Column, "GC pause /s", "× wrk", "× HttpClient", "errors", "connections"];

    /// <summary>The column of gen-2 collections per 1,000 requests.</summary>
    public const string Gen2Column = "gen 2 /1k";

    /// <summary>The command line that produced the results.</summary>
    public required string Command { get; init; }

    /// <summary>When the run started.</summary>
    public required DateTimeOffset Date { get; init; }

    /// <summary>A remark printed at the top (e.g. that this was a smoke run on a busy machine).</summary>
    public string? Note { get; init; }

    /// <summary>The machine description: CPU, cores, kernel, runtime, versions of the tools.</summary>
    public required IReadOnlyList<(string Name, string Value)> Machine { get; init; }

    /// <summary>How the figures were taken, one sentence each.</summary>
    public required IReadOnlyList<string> Method { get; init; }

    /// <summary>Rows of the full matrix left out, and why.</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>Anything else a reader must know (clients that could not run, caps of the tools).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The scenarios, in the order run.</summary>
    public required IReadOnlyList<Scenario> Scenarios { get; init; }

    /// <summary>The clients, in table order.</summary>
    public required IReadOnlyList<string> Clients { get; init; }

    /// <summary>Every measurement.</summary>
    public required IReadOnlyList<Measurement> Measurements { get; init; }

    /// <summary>The chart's file name beside the document, or null for none.</summary>
    public string? ChartFile { get; init; }

    /// <summary>The start-up runs (<see cref="StartupProbe"/>), or none.</summary>
    public IReadOnlyList<StartupMeasurement> Startup { get; init; } = [];

    /// <summary>How the start-up runs were made, one sentence each (shown under their table).</summary>
    public IReadOnlyList<string> StartupMethod { get; init; } = [];

    /// <summary>The start-up chart's file name beside the document, or null for none.</summary>
    public string? StartupChartFile { get; init; }

    /// <summary>The columns of the start-up table for runs of <paramref name="seconds"/>.</summary>
    public static string[] StartupColumns(double seconds)
    {
        (double first, double steady) = StartupProbe.Windows(seconds);
        return
        [
            "client",
            string.Create(CultureInfo.InvariantCulture, $"first {first:0.#} s (req/s)"),
            string.Create(CultureInfo.InvariantCulture, $"steady, last {steady:0.#} s (req/s)"),
            string.Create(CultureInfo.InvariantCulture, $"first {first:0.#} s ÷ steady (median, min–max)"),
            string.Create(CultureInfo.InvariantCulture, $"per CPU-second: first {first:0.#} s ÷ steady"),
            "0.9× steady from",
            "first response",
            "errors",
        ];
    }

    /// <summary>The extra columns of the rows with thousands of connections: memory per open connection.</summary>
    public static readonly string[] MemoryColumns = ["open conns", "RSS/conn", "heap/conn"];

    /// <summary>The start-up chart: median requests/s per half second since the process started, a line per client.</summary>
    public string StartupChartSvg()
    {
        string[] clients = [.. Clients.Where(c => Startup.Any(m => m.Client == c && m.Failure is null))];
        double[][] rates = [.. clients.Select(c => StartupProbe.MedianRates(Startup, c))];
        double bucket = Startup.Count > 0 ? Startup[0].BucketSeconds : StartupProbe.Bucket.TotalSeconds;
        return SvgChart.RenderLines(
            $"Requests/s after the process starts: 13 B keep-alive, c = {StartupProbe.Concurrency}, ProcessorCount = 1, default tiering (median per {bucket:0.#} s)",
            "seconds since the process started",
            "requests per second",
            clients,
            rates,
            bucket,
            marker: StartupProbe.FirstSeconds,
            colours: [.. clients.Select(c => Clients.ToList().IndexOf(c))]);
    }

    /// <summary>The scenarios the chart shows: keep-alive with the small body when there are any (the main comparison), else all.</summary>
    public IReadOnlyList<Scenario> ChartScenarios
    {
        get
        {
            var main = Scenarios.Where(s => !s.Close && s.BodyBytes == Scenario.SmallBody).ToList();
            return main.Count > 0 ? main : Scenarios;
        }
    }

    /// <summary>The chart: median requests/s per client, grouped by scenario.</summary>
    public string ChartSvg()
    {
        IReadOnlyList<Scenario> scenarios = ChartScenarios;
        bool sameShape = scenarios.Select(s => (s.BodyBytes, s.Close)).Distinct().Count() == 1;
        string title = sameShape
            ? $"Requests/s, {scenarios[0].BodyLabel} {(scenarios[0].Close ? "Connection: close" : "keep-alive")} (median; whiskers: min–max)"
            : "Requests/s by scenario (median; whiskers: min–max)";
        string[] groups = [.. scenarios.Select(s => sameShape ? string.Create(CultureInfo.InvariantCulture, $"c = {s.Concurrency:N0}") : s.Key)];
        // Only the clients that ran one of these scenarios (not the pooled bodies in a 13 B chart), each in its colour of the start-up chart.
        string[] clients = [.. Clients.Where(c => Measurements.Any(m => m.Client == c && scenarios.Any(s => s.Key == m.Scenario)))];
        ClientSummary?[][] lines = [.. scenarios.Select(s =>
        {
            List<ClientSummary> summary = ResultSummary.Summarize(s, Measurements, clients);
            return clients.Select(c => summary.FirstOrDefault(l => l.Client == c && l.Failure is null)).ToArray();
        })];
        double?[][] values = [.. lines.Select(g => g.Select(l => l?.RequestsPerSecond).ToArray())];
        (double, double)?[][] ranges = [.. lines.Select(g => g.Select(l => l is null ? ((double, double)?)null : (l.Min, l.Max)).ToArray())];
        return SvgChart.Render(title, "requests per second", groups, clients, values, ranges, [.. clients.Select(c => Clients.ToList().IndexOf(c))]);
    }

    /// <summary>The whole document.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        Line(text, "# Benchmarks");
        Line(text);
        if (Note is not null)
        {
            Line(text, $"> **{Note}**");
            Line(text);
        }

        Line(text, $"Produced by `{Command}` on {Date.UtcDateTime:yyyy-MM-dd HH:mm} UTC. Regenerate with `make bench` (the full suite, about 35 minutes) or `make bench-quick` (about a minute, fewer rows); `make bench-micro` runs the BenchmarkDotNet micro-benchmarks.");
        Line(text);
        Line(text, "## Machine");
        Line(text);
        foreach ((string name, string value) in Machine)
        {
            Line(text, $"- {name}: {value}");
        }

        Line(text);
        Line(text, "## Method");
        Line(text);
        foreach (string sentence in Method)
        {
            Line(text, $"- {sentence}");
        }

        foreach (string skipped in Skipped)
        {
            Line(text, $"- Skipped: {skipped}");
        }

        foreach (string note in Notes)
        {
            Line(text, $"- Note: {note}");
        }

        Line(text);
        if (ChartFile is not null)
        {
            Line(text, $"![Requests per second by client and concurrency]({ChartFile})");
            Line(text);
        }

        if (Scenarios.Count > 0)
        {
            WriteGlance(text);
        }

        foreach (Scenario scenario in Scenarios)
        {
            WriteScenario(text, scenario);
        }

        if (Startup.Count > 0)
        {
            WriteStartup(text);
        }

        return text.ToString();
    }

    /// <summary>The cells of one table row (without the outer pipes), for the smoke test.</summary>
    public static string[] Cells(string row) => [.. row.Trim().Trim('|').Split('|').Select(c => c.Trim())];

    private void WriteGlance(StringBuilder text)
    {
        Line(text, "## At a glance: requests/s as a multiple of wrk's (median of the per-repetition ratios)");
        Line(text);
        Line(text, "| client | " + string.Join(" | ", Scenarios.Select(s => s.Key)) + " |");
        Line(text, "|---|" + string.Concat(Scenarios.Select(_ => "---:|")));
        // A client that ran no steady-state row (a start-up-only name) has no line; one that skips some scenarios (the pooled bodies at 13 B) shows — there.
        foreach (string client in Clients.Where(c => Measurements.Any(m => m.Client == c)))
        {
            var cells = Scenarios.Select(s => ResultSummary.Summarize(s, Measurements, [client]).FirstOrDefault() is { Failure: null } line ? Ratio(client == ResultSummary.Ceiling ? 1 : line.VsWrk) : None);
            Line(text, $"| {client} | {string.Join(" | ", cells)} |");
        }

        Line(text);
    }

    /// <summary>The title of the start-up section.</summary>
    public const string StartupTitle = "Time to steady state: a fresh process, one core, default tiering";

    private void WriteStartup(StringBuilder text)
    {
        Line(text, "## " + StartupTitle);
        Line(text);
        foreach (string sentence in StartupMethod)
        {
            Line(text, $"- {sentence}");
        }

        if (StartupMethod.Count > 0)
        {
            Line(text);
        }

        if (StartupChartFile is not null)
        {
            Line(text, $"![Requests per second after the process starts, by client]({StartupChartFile})");
            Line(text);
        }

        double seconds = Startup.Where(m => m.Failure is null).Select(m => m.Seconds).DefaultIfEmpty(0).Min();
        string[] columns = StartupColumns(seconds);
        Line(text, "| " + string.Join(" | ", columns) + " |");
        Line(text, "|---|" + string.Concat(columns.Skip(1).Select(_ => "---:|")));
        foreach (StartupSummary line in StartupProbe.Summarize(Startup, Clients))
        {
            var cells = new List<string> { line.Client };
            if (line.Failure is not null)
            {
                cells.Add("failed: " + line.Failure.Replace('|', '/').ReplaceLineEndings(" "));
                cells.AddRange(Enumerable.Repeat(None, columns.Length - 3));
            }
            else
            {
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{line.FirstRate:N0}"));
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{line.SteadyRate:N0}"));
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{line.Ratio:0.00} ({line.RatioMin:0.00}–{line.RatioMax:0.00})"));
                cells.Add(line.CpuRatio is { } perCpu ? perCpu.ToString("0.00", CultureInfo.InvariantCulture) : None);
                cells.Add(line.NinetyPercentAt is { } at ? string.Create(CultureInfo.InvariantCulture, $"{at:0.0} s") : None);
                cells.Add(line.FirstResponseMs is { } ms ? string.Create(CultureInfo.InvariantCulture, $"{ms:N0} ms") : None);
            }

            cells.Add(line.Errors.ToString(CultureInfo.InvariantCulture));
            Line(text, "| " + string.Join(" | ", cells) + " |");
        }

        Line(text);
    }

    private void WriteScenario(StringBuilder text, Scenario scenario)
    {
        bool large = scenario.BodyBytes >= Scenario.LargeBody;
        string[] columns = large ? Columns : [.. Columns.Where(c => c != "MB/s")];
        bool many = scenario.Concurrency >= SuiteRunner.ManyConnections;
        if (many)
        {
            columns = [.. columns, .. MemoryColumns];
        }

        Line(text, $"## {scenario.Title}");
        Line(text);
        Line(text, "| " + string.Join(" | ", columns) + " |");
        Line(text, "|---|" + string.Concat(columns.Skip(1).Select(_ => "---:|")));
        foreach (ClientSummary line in ResultSummary.Summarize(scenario, Measurements, Clients))
        {
            var cells = new List<string> { line.Client };
            if (line.Failure is not null)
            {
                cells.Add("failed: " + line.Failure.Replace('|', '/').ReplaceLineEndings(" "));
                cells.AddRange(Enumerable.Repeat(None, columns.Length - 4 - (many ? MemoryColumns.Length : 0)));
                cells.Add(line.Errors.ToString(CultureInfo.InvariantCulture));
                cells.Add(None);
                if (many)
                {
                    cells.AddRange(Enumerable.Repeat(None, MemoryColumns.Length));
                }
            }
            else
            {
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{line.RequestsPerSecond:N0} ({line.Min:N0}–{line.Max:N0})"));
                if (large)
                {
                    cells.Add(string.Create(CultureInfo.InvariantCulture, $"{line.RequestsPerSecond * scenario.BodyBytes / 1e6:N0}"));
                }

                cells.Add(Latency(line.P50Us));
                cells.Add(Latency(line.P99Us));
                cells.Add(line.CpuUsPerRequest is { } cpu ? string.Create(CultureInfo.InvariantCulture, $"{cpu:N1} µs") : None);
                cells.Add(line.BytesPerRequest is { } bytes ? string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} B") : None);
                cells.Add(Collections(line.Gen2PerThousand));
                cells.Add(line.GcPauseMsPerSecond is { } pause ? string.Create(CultureInfo.InvariantCulture, $"{pause:N1} ms") : None);
                cells.Add(line.Client == ResultSummary.Ceiling ? Ratio(1) : Ratio(line.VsWrk));
                cells.Add(line.Client == ResultSummary.Reference ? Ratio(1) : Ratio(line.VsHttpClient));
                cells.Add(line.Errors.ToString(CultureInfo.InvariantCulture));
                cells.Add(line.Connections is { } connections ? string.Create(CultureInfo.InvariantCulture, $"{connections:N0}") : None);
                if (many)
                {
                    cells.Add(line.OpenConnections is { } open ? string.Create(CultureInfo.InvariantCulture, $"{open:N0}") : None);
                    cells.Add(Bytes(line.RssBytesPerConnection));
                    cells.Add(Bytes(line.HeapBytesPerConnection));
                }
            }

            Line(text, "| " + string.Join(" | ", cells) + " |");
        }

        Line(text);
    }

    private static string Bytes(double? bytes) => bytes switch
    {
        null => None,
        >= 10 * 1024 or <= -10 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024:N1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} B"),
    };

    // Tenths where the figure is small (a collection every few thousand requests), whole numbers above.
    private static string Collections(double? perThousand) => perThousand switch
    {
        null => None,
        < 10 => perThousand.Value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => perThousand.Value.ToString("N0", CultureInfo.InvariantCulture),
    };

    private static string Ratio(double? ratio) => ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : None;

    private static string Latency(double? microseconds) => microseconds switch
    {
        null => None,
        >= 10_000 => string.Create(CultureInfo.InvariantCulture, $"{microseconds / 1000:N0} ms"),
        >= 1_000 => string.Create(CultureInfo.InvariantCulture, $"{microseconds / 1000:N1} ms"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{microseconds:N0} µs"),
    };

    private static void Line(StringBuilder text, string line = "") => text.Append(line).Append('\n');
}
