using System.Globalization;
using System.Text.RegularExpressions;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// wrk, the ceiling: C, epoll, one thread (<c>-t1</c>, as our clients have one loop), a fixed
/// number of connections each with one request in flight, percentiles from <c>--latency</c>.
/// </summary>
internal sealed partial class WrkClient : ToolClient
{
    private readonly string _wrk;

    public WrkClient(string wrk, IReadOnlyList<string> launcher)
        : base("wrk", launcher)
    {
        _wrk = wrk;
    }

    public override Measurement Run(RunSpec spec)
    {
        // wrk takes whole seconds (or milliseconds) only.
        long milliseconds = Math.Max(1000, (long)spec.Duration.TotalMilliseconds);
        var arguments = new List<string>
        {
            _wrk, "-t1", "-c", spec.Scenario.Concurrency.ToString(CultureInfo.InvariantCulture),
            "-d", milliseconds % 1000 == 0 ? $"{milliseconds / 1000}s" : $"{milliseconds}ms",
            "--timeout", "30s", "--latency",
        };
        if (spec.Scenario.Close)
        {
            arguments.AddRange(["-H", "Connection: close"]);
        }

        arguments.Add(spec.Url);
        try
        {
            ToolRun run = Execute(arguments, spec.Duration + TimeSpan.FromMinutes(2));
            return run.ExitCode == 0
                ? Parse(run.Output, spec, run.CpuSeconds)
                : Measurement.Failed(Name, spec.Scenario, spec.Repetition, $"wrk exited with {run.ExitCode}: {FirstLine(run.Errors + run.Output)}");
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or FormatException or System.ComponentModel.Win32Exception)
        {
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, e.Message);
        }
    }

    /// <summary>Reads wrk's report: "N requests in T", the 50% and 99% latencies, socket errors and non-2xx responses.</summary>
    internal Measurement Parse(string output, RunSpec spec, double? cpuSeconds)
    {
        Match total = RequestsIn().Match(output);
        if (!total.Success)
        {
            throw new FormatException($"wrk's output has no request count: {FirstLine(output)}");
        }

        long requests = long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture);
        if (requests == 0)
        {
            // It spent the whole time connecting (thousands of connections, a short round).
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, "no request completed in the time (make the rounds longer)");
        }

        double seconds = Duration(total.Groups[2].Value, total.Groups[3].Value) / 1e6;
        long errors = 0;
        Match socketErrors = SocketErrors().Match(output);
        if (socketErrors.Success)
        {
            for (int g = 1; g <= 4; g++)
            {
                errors += long.Parse(socketErrors.Groups[g].Value, CultureInfo.InvariantCulture);
            }
        }

        Match non2xx = Non2xx().Match(output);
        if (non2xx.Success)
        {
            errors += long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        long ok = Math.Max(0, requests - (non2xx.Success ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0));
        return new Measurement
        {
            Client = Name,
            Scenario = spec.Scenario.Key,
            Repetition = spec.Repetition,
            Requests = ok,
            Errors = errors,
            Seconds = seconds,
            P50Us = Percentile(output, "50%"),
            P99Us = Percentile(output, "99%"),
            CpuUsPerRequest = cpuSeconds is { } cpu && requests > 0 ? cpu * 1e6 / requests : null,
        };
    }

    private static double? Percentile(string output, string label)
    {
        Match line = Regex.Match(output, $@"^\s*{Regex.Escape(label)}\s+([0-9.]+)(us|ms|s|m)\s*$", RegexOptions.Multiline | RegexOptions.CultureInvariant);
        return line.Success ? Duration(line.Groups[1].Value, line.Groups[2].Value) : null;
    }

    // wrk prints durations as 1.23us, 4.56ms, 7.89s or 1.50m.
    private static double Duration(string number, string unit)
    {
        double value = double.Parse(number, CultureInfo.InvariantCulture);
        return unit switch
        {
            "us" => value,
            "ms" => value * 1e3,
            "s" => value * 1e6,
            "m" => value * 60e6,
            _ => throw new FormatException($"Unknown unit '{unit}' in wrk's output."),
        };
    }

    [GeneratedRegex(@"(\d+) requests in ([0-9.]+)(us|ms|s|m)", RegexOptions.CultureInvariant)]
    private static partial Regex RequestsIn();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex Non2xx();
}
