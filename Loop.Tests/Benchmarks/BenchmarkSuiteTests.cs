using System.Globalization;
using System.Xml.Linq;
using Loop.Benchmarks.Suite;
using Loop.Tests.Support;

namespace Loop.Tests.Benchmarks;

/// <summary>
/// The load suite's runner and report, without nginx or the external tools: two .NET clients
/// against the tests' Kestrel for about a second give a well-formed table and chart. No timing
/// is asserted; the figures only have to be there and parse.
/// </summary>
public sealed class BenchmarkSuiteTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public void Run_TwoClientsForASecond_ReportHasAWellFormedTableAndChart()
    {
        // Kestrel's /hello answers "Hello world!" (12 bytes).
        var scenario = new Scenario("/hello", 12, Concurrency: 4, Close: false);
        var settings = new SuiteSettings(Repetitions: 2, Duration: TimeSpan.FromSeconds(0.2), FirstWarmup: TimeSpan.FromSeconds(0.1), ScenarioWarmup: TimeSpan.FromSeconds(0.1));
        List<Measurement> measurements = [];
        Fds.RunBounded(
            () =>
            {
                using var simple = new InProcessClient("simple");
                using var httpClient = new InProcessClient("httpclient");
                var runner = new SuiteRunner([simple, httpClient], $"http://127.0.0.1:{TestHttpServer.Shared.Port}", settings, TextWriter.Null);
                measurements = runner.Run([scenario]);
            },
            TestTimeout);

        Assert.That(measurements, Has.Count.EqualTo(4));
        Assert.That(measurements.Select(m => m.Failure), Has.All.Null);
        var report = new BenchmarkReport
        {
            Command = "test",
            Date = DateTimeOffset.UtcNow,
            Machine = [("CPU", "test")],
            Method = ["test"],
            Scenarios = [scenario],
            Clients = ["SimpleAsyncHttpClient", "HttpClient"],
            Measurements = measurements,
            ChartFile = "chart.svg",
        };

        string[] rows = TableOf(report.ToMarkdown(), scenario.Title);
        string[] header = BenchmarkReport.Cells(rows[0]);
        Assert.That(header, Is.EqualTo(BenchmarkReport.Columns.Where(c => c != "MB/s").ToArray()));
        Assert.That(rows, Has.Length.EqualTo(4), "header, rule, one line per client");
        foreach (string row in rows.Skip(2))
        {
            string[] cells = BenchmarkReport.Cells(row);
            Assert.That(cells, Has.Length.EqualTo(header.Length), row);
            Assert.That(Number(cells[1].Split(' ')[0]), Is.GreaterThan(0), row);
            Assert.That(cells[2], Does.EndWith("s"), row);
            Assert.That(cells[4], Does.EndWith("µs"), row);
            Assert.That(cells[5], Does.EndWith("B"), row);
            Assert.That(Number(cells[6]), Is.GreaterThanOrEqualTo(0), "gen 2 /1k: " + row);
            Assert.That(cells[7], Does.EndWith(" ms"), "GC pause /s: " + row);
            Assert.That(cells[8], Is.EqualTo(BenchmarkReport.None), "no wrk in this run: " + row);
            Assert.That(Number(cells[9]), Is.GreaterThan(0), row);
            Assert.That(cells[10], Is.EqualTo("0"), row);
            Assert.That(cells[11], Is.EqualTo(BenchmarkReport.None), "no server counter in this run: " + row);
        }

        Assert.That(BenchmarkReport.Cells(rows[3])[9], Is.EqualTo("1.00"), "HttpClient against itself");
        XElement svg = XElement.Parse(report.ChartSvg());
        Assert.That(svg.Name.LocalName, Is.EqualTo("svg"));
        Assert.That(svg.Elements().Count(e => e.Name.LocalName == "rect" && e.Elements().Any(t => t.Name.LocalName == "title")), Is.EqualTo(2), "one bar per client");
    }

    [Test]
    public void Run_PooledClientsWithLargeAndSmallBodies_RunOnlyTheLargeRowsWithTheGen2Column()
    {
        // Kestrel's /large sends the size asked for; /hello 12 bytes, which the pooled kinds skip.
        var large = new Scenario($"/large?size={Scenario.LargeBody}", Scenario.LargeBody, Concurrency: 2, Close: false);
        var small = new Scenario("/hello", 12, Concurrency: 2, Close: false);
        var settings = new SuiteSettings(Repetitions: 1, Duration: TimeSpan.FromSeconds(0.2), FirstWarmup: TimeSpan.FromSeconds(0.1), ScenarioWarmup: TimeSpan.FromSeconds(0.1));
        string[] kinds = ["simple", "simple-pooled", "curl-pooled"];
        List<Measurement> measurements = [];
        Fds.RunBounded(
            () =>
            {
                InProcessClient[] clients = [.. kinds.Select(k => new InProcessClient(k))];
                try
                {
                    var runner = new SuiteRunner(clients, $"http://127.0.0.1:{TestHttpServer.Shared.Port}", settings, TextWriter.Null);
                    measurements = runner.Run([large, small]);
                }
                finally
                {
                    foreach (InProcessClient client in clients)
                    {
                        client.Dispose();
                    }
                }
            },
            TestTimeout);

        string[] names = [.. kinds.Select(InProcessClient.DisplayName)];
        Assert.That(measurements.Select(m => (m.Client, m.Scenario)), Is.EqualTo(names.Select(n => (n, large.Key)).Append((names[0], small.Key))), "the pooled clients skip the small body");
        Assert.That(measurements.Select(m => m.Failure), Has.All.Null);
        Assert.That(measurements.Select(m => m.Errors), Has.All.EqualTo(0));
        Assert.That(measurements.Select(m => m.Gen2PerThousand), Has.All.Not.Null.And.All.GreaterThanOrEqualTo(0));
        Assert.That(measurements.Select(m => m.GcPauseMsPerSecond), Has.All.Not.Null.And.All.GreaterThanOrEqualTo(0));
        var report = new BenchmarkReport
        {
            Command = "test",
            Date = DateTimeOffset.UtcNow,
            Machine = [("CPU", "test")],
            Method = ["test"],
            Scenarios = [large, small],
            Clients = names,
            Measurements = measurements,
            ChartFile = "chart.svg",
        };
        string markdown = report.ToMarkdown();

        string[] rows = TableOf(markdown, large.Title);
        string[] header = BenchmarkReport.Cells(rows[0]);
        Assert.That(header, Is.EqualTo(BenchmarkReport.Columns));
        int gen2 = Array.IndexOf(header, BenchmarkReport.Gen2Column);
        Assert.That(rows.Skip(2).Select(r => BenchmarkReport.Cells(r)[0]), Is.EqualTo(names), "one line per client, pooled ones included");
        foreach (string row in rows.Skip(2))
        {
            string[] cells = BenchmarkReport.Cells(row);
            Assert.That(cells, Has.Length.EqualTo(header.Length), row);
            Assert.That(Number(cells[1].Split(' ')[0]), Is.GreaterThan(0), row);
            Assert.That(Number(cells[gen2]), Is.GreaterThanOrEqualTo(0), row);
            Assert.That(cells[gen2 + 1], Does.EndWith(" ms"), row);
        }

        Assert.That(TableOf(markdown, small.Title).Skip(2).Select(r => BenchmarkReport.Cells(r)[0]), Is.EqualTo(new[] { names[0] }));
        string[] glance = TableOf(markdown, "At a glance: requests/s as a multiple of wrk's (median of the per-repetition ratios)");
        Assert.That(glance.Skip(2).Select(r => BenchmarkReport.Cells(r)[0]), Is.EqualTo(names));
        Assert.That(BenchmarkReport.Cells(glance[3])[2], Is.EqualTo(BenchmarkReport.None), "no small-body figure for a pooled client");
        XElement svg = XElement.Parse(report.ChartSvg());
        Assert.That(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value), Does.Contain(names[2]), "the pooled clients in the legend");
    }

    [TestCase("simple-pooled")]
    [TestCase("curl")]
    [TestCase("httpclient")]
    public void Run_BodyOfAnotherLengthThanTheScenarios_CountsErrorsAndSaysWhy(string kind)
    {
        // Kestrel's /hello sends 12 bytes and /large?size=1000 1,000: a scenario that expects 13 (or, for a pooled client, 1 MiB) must not count them as good.
        var scenario = new Scenario("/hello", 13, Concurrency: 2, Close: false);
        var wrongSize = scenario with { BodyBytes = Scenario.LargeBody, Path = "/large?size=1000" };
        Measurement? measurement = null;
        Fds.RunBounded(
            () =>
            {
                using var client = new InProcessClient(kind);
                Scenario target = client.Runs(scenario) ? scenario : wrongSize;
                measurement = client.Run(new RunSpec(target, $"http://127.0.0.1:{TestHttpServer.Shared.Port}", 0, TimeSpan.Zero, TimeSpan.FromSeconds(0.2)));
            },
            TestTimeout);

        Assert.That(measurement!.Failure, Is.Null);
        Assert.That(measurement.Requests, Is.Zero);
        Assert.That(measurement.Errors, Is.GreaterThan(0));
        Assert.That(measurement.FirstError, Does.Match(@"^a body of (12|1000) bytes, (13|1048576) expected$"));
    }

    [Test]
    [CancelAfter(10_000)]
    public void Suite_Help_ListsEveryClientKind()
    {
        (int exitCode, string text) = ConsoleCapture.Out(() => SuiteCommand.Run(["--help"]));
        Assert.That(exitCode, Is.EqualTo(0));
        Assert.That(text, Does.Contain("wrk,simple,simple-value,simple-result,simple-pooled,curl,curl-value,curl-pooled,httpclient,curl-tool,undici"));
    }

    [Test]
    [CancelAfter(10_000)]
    public void Suite_UnknownClient_ExitsWithUsageBeforeRunningAnything()
    {
        (int exitCode, string text) = ConsoleCapture.Error(() => SuiteCommand.Run(["--clients", "wrk,simple-pool"]));
        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(text, Does.Contain("unknown client: simple-pool").And.Contain("usage:"));
    }

    [TestCase("--request", "10")]
    [TestCase("--requests", "ten")]
    [TestCase("--requests")]
    [TestCase("--clients", "simple,curll")]
    [CancelAfter(10_000)]
    public void Soak_BadArguments_ExitWithUsageBeforeRunningAnything(params string[] args)
    {
        (int exitCode, string text) = ConsoleCapture.Error(() => Loop.Benchmarks.SoakRunner.Run(args));
        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(text, Does.StartWith("soak: ").And.Contain("usage: Loop.Benchmarks soak"));
    }

    [Test]
    public void StartupProbe_TwoFreshClientsForASecondAndAHalf_ReportHasAWellFormedTableAndChart()
    {
        // In this process (the runner starts a process per run; what it runs there is this).
        const double Seconds = 1.5;
        List<StartupMeasurement> runs = [];
        Fds.RunBounded(
            () =>
            {
                string url = $"http://127.0.0.1:{TestHttpServer.Shared.Port}";
                foreach (string kind in new[] { "simple", "httpclient" })
                {
                    long now = System.Diagnostics.Stopwatch.GetTimestamp();
                    runs.Add(StartupProbe.Measure(kind, url, concurrency: 4, Seconds, origin: now, mainTimestamp: now, path: "/hello", bodyBytes: 12));
                }
            },
            TestTimeout);

        Assert.That(runs.Select(r => r.Failure), Has.All.Null);
        Assert.That(runs.Select(r => r.Counts.Length), Has.All.EqualTo(3), "half-second buckets");
        Assert.That(runs.Select(r => r.CpuMs.Length), Has.All.EqualTo(3), "CPU time per bucket");
        Assert.That(runs.Select(r => StartupMeasurement.FromJson(r.ToJson()).Counts), Is.EqualTo(runs.Select(r => r.Counts)));
        var report = new BenchmarkReport
        {
            Command = "test",
            Date = DateTimeOffset.UtcNow,
            Machine = [("CPU", "test")],
            Method = ["test"],
            Scenarios = [],
            Clients = ["SimpleAsyncHttpClient", "HttpClient"],
            Measurements = [],
            Startup = runs,
            StartupMethod = ["test"],
            StartupChartFile = "startup.svg",
        };

        string[] rows = TableOf(report.ToMarkdown(), BenchmarkReport.StartupTitle);
        string[] header = BenchmarkReport.Cells(rows[0]);
        Assert.That(header, Is.EqualTo(BenchmarkReport.StartupColumns(Seconds)));
        Assert.That(rows, Has.Length.EqualTo(4), "header, rule, one line per client");
        foreach (string row in rows.Skip(2))
        {
            string[] cells = BenchmarkReport.Cells(row);
            Assert.That(cells, Has.Length.EqualTo(header.Length), row);
            Assert.That(Number(cells[1]), Is.GreaterThanOrEqualTo(0), row);
            Assert.That(Number(cells[2]), Is.GreaterThan(0), row);
            Assert.That(cells[3], Does.Match(@"^[0-9.]+ \([0-9.]+–[0-9.]+\)$"), row);
            Assert.That(Number(cells[4]), Is.GreaterThanOrEqualTo(0), row);
            Assert.That(cells[6], Does.EndWith(" ms"), row);
            Assert.That(cells[7], Is.EqualTo("0"), row);
        }

        XElement svg = XElement.Parse(report.StartupChartSvg());
        Assert.That(svg.Elements().Count(e => e.Name.LocalName == "path" && e.Elements().Any(t => t.Name.LocalName == "title")), Is.EqualTo(2), "one line per client");
    }

    [Test]
    public void Run_ManyConnectionsMode_ReportsMemoryPerOpenConnection()
    {
        // CloseAfter is what the 10,000-connection rows run with: a fresh client, measured while its connections are open.
        var scenario = new Scenario("/hello", 12, Concurrency: 8, Close: false);
        Measurement? measurement = null;
        Fds.RunBounded(
            () =>
            {
                using var simple = new InProcessClient("simple");
                measurement = simple.Run(new RunSpec(scenario, $"http://127.0.0.1:{TestHttpServer.Shared.Port}", 0, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(0.2), CloseAfter: true));
            },
            TestTimeout);

        Assert.That(measurement!.Failure, Is.Null);
        Assert.That(measurement.OpenConnections, Is.GreaterThanOrEqualTo(scenario.Concurrency), "a descriptor per connection at least");
        Assert.That(measurement.RssBytesPerConnection, Is.Not.Null);
        Assert.That(measurement.HeapBytesPerConnection, Is.Not.Null);
    }

    [Test]
    public void Report_ManyConnectionsRow_HasMemoryColumns()
    {
        var scenario = Scenario.Small(SuiteRunner.ManyConnections);
        var report = new BenchmarkReport
        {
            Command = "test",
            Date = DateTimeOffset.UtcNow,
            Machine = [("CPU", "test")],
            Method = ["test"],
            Scenarios = [scenario],
            Clients = ["SimpleAsyncHttpClient"],
            Measurements = [new Measurement { Client = "SimpleAsyncHttpClient", Scenario = scenario.Key, Requests = 1000, Seconds = 1, OpenConnections = 10_003, RssBytesPerConnection = 12_800, HeapBytesPerConnection = 900 }],
        };

        string[] rows = TableOf(report.ToMarkdown(), scenario.Title);
        string[] header = BenchmarkReport.Cells(rows[0]);
        string[] cells = BenchmarkReport.Cells(rows[2]);
        Assert.That(header[^3..], Is.EqualTo(BenchmarkReport.MemoryColumns));
        Assert.That(cells[^3..], Is.EqualTo(new[] { "10,003", "12.5 KiB", "900 B" }));
    }

    [TestCase("--scenarios", "small")]
    [TestCase("--clients")]
    [TestCase("--concurency", "64")]
    [CancelAfter(10_000)]
    public void Suite_UnknownOptionOrMissingValue_ExitsWithUsageBeforeRunningAnything(params string[] args)
    {
        // Never starts nginx or a client: the arguments are checked first.
        (int exitCode, string text) = ConsoleCapture.Error(() => SuiteCommand.Run(args));
        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(text, Does.Contain($"unknown option, or an option without its value: {args[0]}").And.Contain("usage:"));
    }

    [Test]
    public void Measurement_ToJsonAndBack_KeepsEveryFigure()
    {
        var measurement = new Measurement { Client = "wrk", Scenario = "13 B/c64/keep-alive", Repetition = 2, Requests = 1000, Errors = 1, Seconds = 0.5, P50Us = 12.5, P99Us = 80, CpuUsPerRequest = 3.25, BytesPerRequest = 1024, Gen2PerThousand = 4.5, GcPauseMsPerSecond = 12.25 };

        Assert.That(Measurement.FromJson(measurement.ToJson()), Is.EqualTo(measurement));
    }

    [Test]
    public void Summarize_RatiosTakenPerRepetition_MedianOfThem()
    {
        var scenario = Scenario.Small(64);
        Measurement Make(string client, int repetition, long requests) => new() { Client = client, Scenario = scenario.Key, Repetition = repetition, Requests = requests, Seconds = 1 };
        List<Measurement> measurements =
        [
            Make("wrk", 0, 100), Make("simple", 0, 50),
            Make("wrk", 1, 200), Make("simple", 1, 180),
            Make("wrk", 2, 100), Make("simple", 2, 70),
        ];

        ClientSummary simple = ResultSummary.Summarize(scenario, measurements, ["wrk", "simple"])[1];

        Assert.That(simple.VsWrk, Is.EqualTo(0.7).Within(1e-9), "ratios 0.5, 0.9, 0.7");
        Assert.That(simple.RequestsPerSecond, Is.EqualTo(70));
        Assert.That((simple.Min, simple.Max), Is.EqualTo((50.0, 180.0)));
        Assert.That(simple.VsHttpClient, Is.Null);
    }

    [Test]
    public void LatencyHistogram_Percentiles_WithinOnePercent()
    {
        var histogram = new LatencyHistogram();
        for (long value = 1; value <= 100_000; value++)
        {
            histogram.Record(value * 1000);
        }

        Assert.That(histogram.Percentile(50), Is.EqualTo(50_000_000).Within(1).Percent);
        Assert.That(histogram.Percentile(99), Is.EqualTo(99_000_000).Within(1).Percent);
        Assert.That(histogram.Count, Is.EqualTo(100_000));
    }

    [Test]
    public void WrkParse_ReportWithErrors_CountsRequestsLatenciesAndErrors()
    {
        const string Output = """
            Running 1s test @ http://127.0.0.1:8080/small
              1 threads and 64 connections
              Thread Stats   Avg      Stdev     Max   +/- Stdev
                Latency     0.92ms  211.05us   5.12ms   91.20%
                Req/Sec    70.12k     1.20k   72.00k    80.00%
              Latency Distribution
                 50%  876.00us
                 75%    0.95ms
                 90%    1.10ms
                 99%    1.82ms
              70512 requests in 1.00s, 12.03MB read
              Socket errors: connect 0, read 2, write 0, timeout 1
              Non-2xx or 3xx responses: 12
            Requests/sec:  70443.11
            Transfer/sec:     12.02MB
            """;
        var client = new WrkClient("wrk", []);

        Measurement m = client.Parse(Output, new RunSpec(Scenario.Small(64), "http://127.0.0.1:8080", 0, TimeSpan.Zero, TimeSpan.FromSeconds(1)), cpuSeconds: 0.7);

        Assert.That((m.Requests, m.Errors, m.Seconds), Is.EqualTo((70500L, 15L, 1.0)));
        Assert.That((m.P50Us, m.P99Us), Is.EqualTo((876.0, 1820.0)));
        Assert.That(m.CpuUsPerRequest, Is.EqualTo(0.7 * 1e6 / 70512).Within(1e-9));
    }

    private static string[] TableOf(string markdown, string title)
    {
        string[] lines = markdown.Split('\n');
        int heading = Array.IndexOf(lines, "## " + title);
        Assert.That(heading, Is.GreaterThanOrEqualTo(0), $"no section '{title}' in:\n{markdown}");
        return [.. lines.Skip(heading + 1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal)).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))];
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
