using System.Globalization;
using System.Text;
using Loop.Benchmarks.Suite;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// The embedding benchmark's document (<c>docs/embedding.md</c>): what was run, on what, how,
/// a summary per client against the targets, and one row per measured round. Plain Markdown
/// tables, so that both people and the smoke test can read them.
/// </summary>
internal sealed class EmbedReport
{
    /// <summary>The title of the rounds' table.</summary>
    public const string RoundsTitle = "## Rounds";

    /// <summary>The title of the summary table.</summary>
    public const string SummaryTitle = "## Summary";

    /// <summary>The columns of the rounds' table, in order.</summary>
    public static readonly string[] Columns =
    [
        "client", "body", "loop", "rep", "ticks", "lost", "late p50", "late p99", "late max", "longest RunOnce", "GC in it", "CPU in it", "most CPU in a RunOnce",
        "fetches/s", "MB/s", "× unbounded", "gen 0/1/2", "GC pause", "preempted", "off host thread", "errors",
    ];

    /// <summary>The columns of the summary table, in order.</summary>
    public static readonly string[] SummaryColumns =
    [
        "client", "body", "loop", "ticks", "lost", "worst late p99", "worst longest RunOnce", "most CPU in a RunOnce", "fetches/s (median)", "× unbounded (median)", "gen 2 per 1,000 fetches", "GC pause per s", "preempted",
    ];

    /// <summary>The command line that produced the results.</summary>
    public required string Command { get; init; }

    /// <summary>When the run started.</summary>
    public required DateTimeOffset Date { get; init; }

    /// <summary>A remark printed at the top.</summary>
    public string? Note { get; init; }

    /// <summary>The machine description (<see cref="MachineInfo"/>, the server, the pinning).</summary>
    public required IReadOnlyList<(string Name, string Value)> Machine { get; init; }

    /// <summary>How the figures were taken, one sentence each.</summary>
    public required IReadOnlyList<string> Method { get; init; }

    /// <summary>The clients, in table order (command-line names).</summary>
    public required IReadOnlyList<string> Clients { get; init; }

    /// <summary>Every round, in the order run.</summary>
    public required IReadOnlyList<EmbedMeasurement> Measurements { get; init; }

    /// <summary>The whole document.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("# Embedding: a 60 Hz host with the loop on its thread").AppendLine();
        if (Note is { Length: > 0 })
        {
            text.AppendLine($"> {Note}").AppendLine();
        }

        text.AppendLine(Invariant($"Command: `{Command}`, {Date:yyyy-MM-dd HH:mm} UTC.")).AppendLine();
        text.AppendLine("| Machine | |").AppendLine("|---|---|");
        foreach ((string name, string value) in Machine)
        {
            text.AppendLine($"| {name} | {value} |");
        }

        text.AppendLine().AppendLine("Method:").AppendLine();
        foreach (string line in Method)
        {
            text.AppendLine($"- {line}");
        }

        text.AppendLine().AppendLine(SummaryTitle).AppendLine();
        AppendTable(text, SummaryColumns, SummaryRows());
        text.AppendLine().AppendLine(RoundsTitle).AppendLine();
        AppendTable(text, Columns, Measurements.Select(Row));
        foreach (EmbedMeasurement failed in Measurements.Where(m => m.Failure is not null))
        {
            text.AppendLine().AppendLine($"- {failed.Client}: {failed.Failure}");
        }

        foreach (EmbedMeasurement erred in Measurements.Where(m => m.FirstError is not null).DistinctBy(m => m.Client))
        {
            text.AppendLine().AppendLine($"- {erred.Client}, first failed fetch: {erred.FirstError}");
        }

        return text.ToString();
    }

    /// <summary>The cells of a table row.</summary>
    public static string[] Cells(string row) => [.. row.Trim().Trim('|').Split('|').Select(c => c.Trim())];

    /// <summary>How the report names a round's loop.</summary>
    public static string LoopName(EmbedMeasurement m) => m.Mode switch
    {
        "budget" => Invariant($"budget {m.BudgetMs:0.##} ms"),
        "frame" => Invariant($"budget {m.BudgetMs:0.##} ms, to the frame"),
        _ => "unbounded",
    };

    private IEnumerable<string[]> SummaryRows()
    {
        foreach (string client in Clients)
        {
            foreach (IGrouping<(string Body, string Loop), EmbedMeasurement> mode in Measurements.Where(m => m.Client == client && m.Failure is null).GroupBy(m => (m.Body, LoopName(m))))
            {
                EmbedMeasurement[] rounds = [.. mode];
                double[] ratios = [.. rounds.Select(Ratio).Where(r => !double.IsNaN(r))];
                long fetches = rounds.Sum(r => r.Fetches);
                double seconds = rounds.Sum(r => r.Seconds);
                yield return
                [
                    client,
                    mode.Key.Body,
                    mode.Key.Loop,
                    Invariant($"{rounds.Sum(r => r.Ticks)}"),
                    Invariant($"{rounds.Sum(r => r.TicksLost)}"),
                    Ms(rounds.Max(r => r.LatenessP99Ms)),
                    Ms(rounds.Max(r => r.LongestRunOnceMs)),
                    Ms(rounds.Max(r => r.MostRunOnceCpuMs)),
                    Invariant($"{Median([.. rounds.Select(r => r.FetchesPerSecond)]):0}"),
                    ratios.Length > 0 ? Invariant($"{Median(ratios):0.00}") : BenchmarkReport.None,
                    fetches > 0 ? Invariant($"{rounds.Sum(r => r.Gen2) * 1000.0 / fetches:0.0}") : BenchmarkReport.None,
                    seconds > 0 ? Ms(rounds.Sum(r => r.GcPauseMs) / seconds) : BenchmarkReport.None,
                    Invariant($"{rounds.Sum(r => r.Preempted)}"),
                ];
            }
        }
    }

    private string[] Row(EmbedMeasurement m)
    {
        if (m.Failure is not null)
        {
            return [m.Client, m.Body, LoopName(m), Invariant($"{m.Repetition + 1}"), .. Enumerable.Repeat(BenchmarkReport.None, Columns.Length - 4)];
        }

        double ratio = Ratio(m);
        return
        [
            m.Client,
            m.Body,
            LoopName(m),
            Invariant($"{m.Repetition + 1}"),
            Invariant($"{m.Ticks}"),
            Invariant($"{m.TicksLost}"),
            Ms(m.LatenessP50Ms),
            Ms(m.LatenessP99Ms),
            Ms(m.LatenessMaxMs),
            Ms(m.LongestRunOnceMs),
            Ms(m.LongestRunOnceGcMs),
            Ms(m.LongestRunOnceCpuMs),
            Ms(m.MostRunOnceCpuMs),
            Invariant($"{m.FetchesPerSecond:0}"),
            Invariant($"{m.MegabytesPerSecond:0}"),
            double.IsNaN(ratio) ? BenchmarkReport.None : Invariant($"{ratio:0.00}"),
            Invariant($"{m.Gen0}/{m.Gen1}/{m.Gen2}"),
            Ms(m.GcPauseMs),
            Invariant($"{m.Preempted}"),
            Invariant($"{m.OffHostThread}"),
            Invariant($"{m.Errors}"),
        ];
    }

    /// <summary>A bounded round's fetches/s over the unbounded round of the same client and repetition; NaN for the rest.</summary>
    private double Ratio(EmbedMeasurement m)
    {
        if (!m.Bounded)
        {
            return double.NaN;
        }

        EmbedMeasurement? peer = Measurements.FirstOrDefault(p => p.Client == m.Client && p.Body == m.Body && p.Repetition == m.Repetition && !p.Bounded && p.Failure is null);
        return peer is { Fetches: > 0 } ? m.FetchesPerSecond / peer.FetchesPerSecond : double.NaN;
    }

    private static void AppendTable(StringBuilder text, string[] columns, IEnumerable<string[]> rows)
    {
        text.AppendLine($"| {string.Join(" | ", columns)} |");
        text.AppendLine($"|{string.Concat(columns.Select((_, i) => i < 4 ? "---|" : "---:|"))}");
        foreach (string[] row in rows)
        {
            text.AppendLine($"| {string.Join(" | ", row)} |");
        }
    }

    private static double Median(double[] values)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(values);
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
    }

    private static string Ms(double milliseconds) => double.IsNaN(milliseconds) ? BenchmarkReport.None : Invariant($"{milliseconds:0.00} ms");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
