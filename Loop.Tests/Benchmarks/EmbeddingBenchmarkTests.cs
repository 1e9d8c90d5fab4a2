using System.Globalization;
using Loop.Benchmarks.Embedding;
using Loop.Tests.Support;

namespace Loop.Tests.Benchmarks;

/// <summary>
/// The embedding benchmark's host and report, without nginx: the simple client against the
/// tests' Kestrel for about three seconds (a round of each mode) gives a well-formed
/// table. No timing is asserted; the
/// figures only have to be there and parse.
/// </summary>
public sealed class EmbeddingBenchmarkTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public void Run_SimpleClientForASecond_ReportHasAWellFormedTable()
    {
        var settings = new EmbedSettings
        {
            Client = "simple",
            Url = $"http://127.0.0.1:{TestHttpServer.Shared.Port}/large?size=65536",
            Concurrency = 4,
            Duration = TimeSpan.FromSeconds(0.5),
            Warmup = TimeSpan.FromSeconds(0.2),
            Budget = TimeSpan.FromMilliseconds(2),
            Modes = [HostMode.Budget, HostMode.Frame, HostMode.Unbounded],
            Repetitions = 1,
        };
        var rounds = new List<EmbedMeasurement>();
        Fds.RunBounded(() => EmbeddingHost.Run(settings, rounds.Add), TestTimeout);

        Assert.That(rounds.Select(r => r.Mode), Is.EqualTo(new[] { "budget", "frame", "unbounded" }), "a round of each mode, in order");
        Assert.That(rounds.Select(r => r.Failure), Has.All.Null);
        var report = new EmbedReport
        {
            Command = "test",
            Date = DateTimeOffset.UtcNow,
            Machine = [("CPU", "test")],
            Method = ["test"],
            Clients = ["simple"],
            Measurements = [.. rounds.Select(r => EmbedMeasurement.FromJson(r.ToJson()))],
        };

        string markdown = report.ToMarkdown();
        string[] rows = TableOf(markdown, EmbedReport.RoundsTitle);
        Assert.That(EmbedReport.Cells(rows[0]), Is.EqualTo(EmbedReport.Columns));
        Assert.That(rows, Has.Length.EqualTo(2 + rounds.Count), "header, rule, one line per round");
        foreach (string row in rows.Skip(2))
        {
            string[] cells = EmbedReport.Cells(row);
            Assert.That(cells, Has.Length.EqualTo(EmbedReport.Columns.Length), row);
            Assert.That(cells[0..2], Is.EqualTo(new[] { "simple", "buffered" }), row);
            Assert.That(Number(cells[4]), Is.GreaterThan(0), "ticks: " + row);
            Assert.That(Number(cells[5]), Is.GreaterThanOrEqualTo(0), "lost: " + row);
            Assert.That(cells[6..13], Has.All.Match(@"^[0-9.]+ ms$"), row);
            Assert.That(Number(cells[13]), Is.GreaterThan(0), "fetches/s: " + row);
            Assert.That(cells[16], Does.Match("^[0-9]+/[0-9]+/[0-9]+$"), row);
            Assert.That(Number(cells[18]), Is.GreaterThanOrEqualTo(0), "preempted: " + row);
            Assert.That(cells[19], Is.EqualTo("0"), "every continuation on the host thread: " + row);
            Assert.That(cells[20], Is.EqualTo("0"), "errors: " + row);
        }

        string[] summary = TableOf(markdown, EmbedReport.SummaryTitle);
        Assert.That(EmbedReport.Cells(summary[0]), Is.EqualTo(EmbedReport.SummaryColumns));
        Assert.That(summary, Has.Length.EqualTo(5), "header, rule, one line per client and loop");
        Assert.That(rows[2..4].Select(r => EmbedReport.Cells(r)[15]), Has.All.Match(@"^[0-9]+\.[0-9]{2}$"), "the bounded rounds' ratio to the unbounded one");
        Assert.That(EmbedReport.Cells(rows[4])[15], Is.EqualTo(Loop.Benchmarks.Suite.BenchmarkReport.None));
    }

    [Test]
    public void Run_EachClientAndBodyMode_CountsEveryBodyByte([Values("simple", "curl")] string client, [Values("buffered", "pooled", "writer", "stream")] string body)
    {
        const int Size = 65536;
        var settings = new EmbedSettings
        {
            Client = client,
            Body = EmbedSettings.ParseBody(body),
            Url = $"http://127.0.0.1:{TestHttpServer.Shared.Port}/large?size={Size}",
            Concurrency = 4,
            Duration = TimeSpan.FromSeconds(0.3),
            Warmup = TimeSpan.FromSeconds(0.1),
            Modes = [HostMode.Budget],
            Repetitions = 1,
        };
        var rounds = new List<EmbedMeasurement>();
        Fds.RunBounded(() => EmbeddingHost.Run(settings, rounds.Add), TestTimeout);

        Assert.That(rounds, Has.Count.EqualTo(1));
        Assert.That(rounds[0].Body, Is.EqualTo(body));
        Assert.That(rounds[0].Errors, Is.Zero, rounds[0].FirstError);
        Assert.That(rounds[0].Fetches, Is.GreaterThan(0));
        Assert.That(rounds[0].Bytes, Is.EqualTo(rounds[0].Fetches * Size));
    }

    [Test]
    [CancelAfter(10_000)]
    public void Settings_ToArgumentsThenParse_RoundTrips()
    {
        var settings = new EmbedSettings
        {
            Client = "curl",
            Body = BodyMode.Writer,
            Url = "http://127.0.0.1:1/large",
            Concurrency = 17,
            Duration = TimeSpan.FromSeconds(2.5),
            Warmup = TimeSpan.FromSeconds(1),
            Budget = TimeSpan.FromMilliseconds(1.5),
            Work = TimeSpan.FromMilliseconds(0.25),
            Hz = 30,
            Modes = [HostMode.Unbounded, HostMode.Frame],
            Repetitions = 3,
        };

        Assert.That(EmbedSettings.Parse(settings.ToArguments()), Is.EqualTo(settings));
    }

    [TestCase("--clients", "simple", "--bogus", "1")]
    [TestCase("--duration")]
    [TestCase("--modes", "fast")]
    [TestCase("--client", "httpclient")]
    [TestCase("--body", "pooled,heap")]
    [CancelAfter(10_000)]
    public void Embed_UnknownOptionOrValue_ExitsWithUsageBeforeRunningAnything(params string[] args)
    {
        // Never starts nginx or a host process: the arguments are checked first.
        (int exitCode, string text) = ConsoleCapture.Error(() => EmbedCommand.Run(args));
        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(text, Does.StartWith("embed: "));
    }

    private static string[] TableOf(string markdown, string title)
    {
        string[] lines = markdown.Split('\n');
        int heading = Array.IndexOf(lines, title);
        Assert.That(heading, Is.GreaterThanOrEqualTo(0), $"no section '{title}' in:\n{markdown}");
        return [.. lines.Skip(heading + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))];
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
