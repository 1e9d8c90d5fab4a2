using System.Globalization;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// The curl command line in parallel mode (<c>curl -Z --parallel-max N</c>): the same libcurl
/// as the curl client, driven by curl's own loop. It takes a number of transfers, not a time, so
/// the count for a repetition comes from the rate of the scenario's warm-up run; latencies come
/// from <c>-w %{time_total}</c> per transfer.
/// </summary>
internal sealed class CurlToolClient : ToolClient
{
    /// <summary>curl refuses a larger <c>--parallel-max</c> (and caps it silently in some versions).</summary>
    public const int ParallelMax = 300;

    private readonly string _curl;
    private readonly Dictionary<string, double> _rates = [];

    public CurlToolClient(string curl, IReadOnlyList<string> launcher)
        : base("curl -Z", launcher)
    {
        _curl = curl;
    }

    public override Measurement Run(RunSpec spec)
    {
        try
        {
            int parallel = Math.Min(spec.Scenario.Concurrency, ParallelMax);
            if (spec.Warmup > TimeSpan.Zero || !_rates.ContainsKey(spec.Scenario.Key))
            {
                // A first run sized to take well under a second at any plausible rate; its rate sizes the measured runs.
                long probe = Math.Max(parallel * 4L, spec.Scenario.BodyBytes >= Scenario.LargeBody ? 64 : 2000);
                ToolRun warm = Transfers(spec, parallel, probe);
                _rates[spec.Scenario.Key] = warm.ExitCode == 0 ? Math.Max(1, probe / warm.Seconds) : 1000;
            }

            long count = Math.Max(parallel * 2L, (long)(_rates[spec.Scenario.Key] * spec.Duration.TotalSeconds));
            ToolRun run = Transfers(spec, parallel, count);
            if (run.ExitCode != 0)
            {
                return Measurement.Failed(Name, spec.Scenario, spec.Repetition, $"curl exited with {run.ExitCode}: {FirstLine(run.Errors)}");
            }

            var latencies = new List<double>();
            long errors = 0;
            foreach (string line in run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] fields = line.Split(' ');
                if (fields.Length == 2 && fields[0] == "200" && double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double total))
                {
                    latencies.Add(total * 1e6);
                }
                else
                {
                    errors++;
                }
            }

            _rates[spec.Scenario.Key] = latencies.Count / run.Seconds;
            latencies.Sort();
            return new Measurement
            {
                Client = Name,
                Scenario = spec.Scenario.Key,
                Repetition = spec.Repetition,
                Requests = latencies.Count,
                Errors = errors,
                Seconds = run.Seconds,
                P50Us = Percentile(latencies, 50),
                P99Us = Percentile(latencies, 99),
                CpuUsPerRequest = run.CpuSeconds is { } cpu && latencies.Count > 0 ? cpu * 1e6 / (latencies.Count + errors) : null,
            };
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, e.Message);
        }
    }

    private ToolRun Transfers(RunSpec spec, int parallel, long count)
    {
        // URL globbing makes one transfer per number; the query does not change nginx's answer.
        var arguments = new List<string>
        {
            _curl, "-s", "-Z", "--parallel-max", parallel.ToString(CultureInfo.InvariantCulture),
            "-o", "/dev/null", "-w", "%{http_code} %{time_total}\\n",
        };
        if (spec.Scenario.Close)
        {
            arguments.AddRange(["-H", "Connection: close"]);
        }

        arguments.Add(string.Create(CultureInfo.InvariantCulture, $"{spec.Url}?n=[1-{count}]"));
        return Execute(arguments, spec.Duration * 10 + TimeSpan.FromMinutes(2));
    }

    private static double? Percentile(List<double> sorted, double percentile) =>
        sorted.Count == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(sorted.Count * percentile / 100) - 1, 0, sorted.Count - 1)];
}
