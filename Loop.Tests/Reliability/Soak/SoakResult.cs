using System.Globalization;

namespace Loop.Soak;

/// <summary>
/// One series' verdict. <see cref="Baseline"/> is the median of the first quarter of the samples
/// after warm-up, <see cref="End"/> the median of the last quarter (medians, so one sample caught
/// with a few extra connections open does not decide); the series is flat when <see cref="End"/>
/// is within <see cref="Limit"/> and no sample exceeds <see cref="Bound"/>.
/// </summary>
public sealed record SoakCheck(string Series, double Baseline, double Min, double Max, double End, double Limit, double Bound, bool Passed);

/// <summary>
/// How much a series may grow after warm-up: its end level up to <c>baseline × (1 + fraction) + slack</c>.
/// The defaults are the issue's: fds may move by the runtime's own couple of descriptors, the
/// loop's handlers and timers not at all, heap and RSS by 5%. Fds and handlers are also bounded
/// at every sample: no more than one extra per concurrent fetch (a connection opened while
/// another sat idle) above the baseline.
/// </summary>
public sealed record SoakLimits(int FdSlack = 2, int HandlerSlack = 0, int TimerSlack = 0, double HeapFraction = 0.05, long HeapSlackBytes = 0, double RssFraction = 0.05);

/// <summary>The samples of one soak run and what they say.</summary>
public sealed class SoakResult(string name, SoakOptions options, IReadOnlyList<SoakSample> samples, TimeSpan elapsed)
{
    /// <summary>The run's name (client and mode).</summary>
    public string Name { get; } = name;

    /// <summary>What was run.</summary>
    public SoakOptions Options { get; } = options;

    /// <summary>Every sample, the first before any request.</summary>
    public IReadOnlyList<SoakSample> Samples { get; } = samples;

    /// <summary>Wall time of the run, sampling included.</summary>
    public TimeSpan Elapsed { get; } = elapsed;

    /// <summary>Samples after warm-up (the first of them is every series' baseline).</summary>
    public IReadOnlyList<SoakSample> AfterWarmup => [.. Samples.Where(s => s.Requests > Options.Requests * Options.WarmupFraction)];

    /// <summary>Checks every series against <paramref name="limits"/>.</summary>
    public IReadOnlyList<SoakCheck> Check(SoakLimits limits) =>
    [
        Series("fds", s => s.Fds, 0, limits.FdSlack, 2 * Options.Concurrency + limits.FdSlack),
        Series("loop handlers", s => s.Handlers, 0, limits.HandlerSlack, Options.Concurrency + limits.HandlerSlack),
        Series("loop timers", s => s.Timers, 0, limits.TimerSlack, Options.Concurrency + limits.TimerSlack),
        Series("heap KB", s => s.HeapBytes / 1024.0, limits.HeapFraction, limits.HeapSlackBytes / 1024.0, double.PositiveInfinity),
        Series("RSS MB", s => s.RssBytes / 1048576.0, limits.RssFraction, 0, double.PositiveInfinity),
    ];

    /// <summary>
/// Prints one block per run: requests, rate, and each series: its value before the first request
/// (start), at the end of warm-up (warm: the baseline), its range after warm-up, its end level,
/// the change from baseline to end, the limit on the end level, and the verdict.
/// </summary>
    public static void PrintTable(TextWriter output, IEnumerable<SoakResult> results, SoakLimits limits)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"run",-22} {"requests",10} {"req/s",8} {"series",-14} {"start",10} {"warm",10} {"min",10} {"max",10} {"end",10} {"change",8} {"limit",10}  verdict"));
        foreach (SoakResult result in results)
        {
            double rate = result.Options.Requests / result.Elapsed.TotalSeconds;
            SoakSample start = result.Samples[0];
            bool first = true;
            foreach (SoakCheck check in result.Check(limits))
            {
                double startValue = check.Series switch
                {
                    "fds" => start.Fds,
                    "loop handlers" => start.Handlers,
                    "loop timers" => start.Timers,
                    "heap KB" => start.HeapBytes / 1024.0,
                    _ => start.RssBytes / 1048576.0,
                };
                double change = check.Baseline == 0 ? check.End - check.Baseline : (check.End - check.Baseline) / check.Baseline * 100;
                string changeText = check.Baseline == 0 ? $"{change:+0;-0;0}" : $"{change:+0.0;-0.0;0.0}%";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(first ? result.Name : string.Empty),-22} {(first ? result.Options.Requests.ToString("N0", CultureInfo.InvariantCulture) : string.Empty),10} {(first ? rate.ToString("N0", CultureInfo.InvariantCulture) : string.Empty),8} {check.Series,-14} {startValue,10:0.#} {check.Baseline,10:0.#} {check.Min,10:0.#} {check.Max,10:0.#} {check.End,10:0.#} {changeText,8} {check.Limit,10:0.#}  {(check.Passed ? "flat" : "GROWS")}"));
                first = false;
            }
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private SoakCheck Series(string series, Func<SoakSample, double> value, double fraction, double slack, double boundAbove)
    {
        double[] values = [.. AfterWarmup.Select(value)];
        if (values.Length == 0)
        {
            values = [value(Samples[^1])];
        }

        int quarter = Math.Max(1, values.Length / 4);
        double baseline = Median(values.Take(quarter));
        double end = Median(values.TakeLast(quarter));
        double limit = baseline * (1 + fraction) + slack;
        double bound = baseline + boundAbove;
        return new SoakCheck(series, baseline, values.Min(), values.Max(), end, limit, bound, end <= limit && values.Max() <= bound);
    }
}
