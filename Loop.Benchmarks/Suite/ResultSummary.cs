namespace Loop.Benchmarks.Suite;

/// <summary>
/// One client's line in a scenario's table: medians over the repetitions with the spread of the
/// rate, and the ratios to wrk and to HttpClient taken inside each repetition (so a slow moment
/// of the machine that hit both sides of a ratio cancels out) and then their median.
/// </summary>
internal sealed record ClientSummary(
    string Client,
    int Runs,
    double RequestsPerSecond,
    double Min,
    double Max,
    double? P50Us,
    double? P99Us,
    double? CpuUsPerRequest,
    double? BytesPerRequest,
    double? VsWrk,
    double? VsHttpClient,
    long Errors,
    double? Connections,
    string? Failure,
    double? OpenConnections = null,
    double? RssBytesPerConnection = null,
    double? HeapBytesPerConnection = null,
    double? Gen2PerThousand = null,
    double? GcPauseMsPerSecond = null);

/// <summary>Medians and ratios from the raw measurements.</summary>
internal static class ResultSummary
{
    /// <summary>The ceiling every rate is compared with.</summary>
    public const string Ceiling = "wrk";

    /// <summary>The .NET reference every rate is compared with.</summary>
    public const string Reference = "HttpClient";

    /// <summary>A line per client of <paramref name="clients"/> that has measurements in <paramref name="scenario"/>, in that order.</summary>
    public static List<ClientSummary> Summarize(Scenario scenario, IReadOnlyList<Measurement> measurements, IReadOnlyList<string> clients)
    {
        var mine = measurements.Where(m => m.Scenario == scenario.Key).ToList();
        var lines = new List<ClientSummary>();
        foreach (string client in clients)
        {
            var runs = mine.Where(m => m.Client == client).ToList();
            if (runs.Count == 0)
            {
                continue;
            }

            var good = runs.Where(m => m.Failure is null && m.Requests > 0).ToList();
            string? failure = good.Count == 0 ? runs.Select(m => m.Failure).FirstOrDefault(f => f is not null) ?? "no request succeeded" : null;
            var rates = good.Select(m => m.RequestsPerSecond).ToList();
            lines.Add(new ClientSummary(
                client,
                good.Count,
                Median(rates) ?? double.NaN,
                rates.Count > 0 ? rates.Min() : double.NaN,
                rates.Count > 0 ? rates.Max() : double.NaN,
                Median(good.Select(m => m.P50Us)),
                Median(good.Select(m => m.P99Us)),
                Median(good.Select(m => m.CpuUsPerRequest)),
                Median(good.Select(m => m.BytesPerRequest)),
                Ratio(good, mine, Ceiling),
                Ratio(good, mine, Reference),
                runs.Sum(m => m.Errors),
                Median(good.Select(m => (double?)m.Connections)),
                failure,
                Median(good.Select(m => (double?)m.OpenConnections)),
                // The largest, not the median: the process keeps memory the first repetition made
                // resident, so a later repetition's baseline already holds what its connections reuse.
                good.Select(m => m.RssBytesPerConnection).Max(),
                Median(good.Select(m => m.HeapBytesPerConnection)),
                Median(good.Select(m => m.Gen2PerThousand)),
                Median(good.Select(m => m.GcPauseMsPerSecond))));
        }

        return lines;
    }

    /// <summary>The median of the values present; null when none is.</summary>
    public static double? Median(IEnumerable<double?> values)
    {
        var present = values.Where(v => v is { } x && !double.IsNaN(x)).Select(v => v!.Value).Order().ToList();
        if (present.Count == 0)
        {
            return null;
        }

        int middle = present.Count / 2;
        return present.Count % 2 == 1 ? present[middle] : (present[middle - 1] + present[middle]) / 2;
    }

    private static double? Median(IEnumerable<double> values) => Median(values.Select(v => (double?)v));

    // The client's rate over the other's in each repetition both completed, then the median.
    private static double? Ratio(List<Measurement> client, List<Measurement> scenario, string other)
    {
        var ratios = new List<double?>();
        foreach (Measurement run in client)
        {
            Measurement? peer = scenario.FirstOrDefault(m => m.Client == other && m.Repetition == run.Repetition && m.Failure is null && m.Requests > 0);
            if (peer is not null)
            {
                ratios.Add(run.RequestsPerSecond / peer.RequestsPerSecond);
            }
        }

        return Median(ratios);
    }
}
