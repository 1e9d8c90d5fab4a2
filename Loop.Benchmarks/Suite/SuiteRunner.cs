using System.Globalization;

namespace Loop.Benchmarks.Suite;

/// <summary>How long and how often: the part of a run that a quick run shortens.</summary>
/// <param name="Repetitions">Repetitions of each scenario; clients interleave within each (A B C A B C …).</param>
/// <param name="Duration">Measured time per client and repetition.</param>
/// <param name="FirstWarmup">Load a client runs before its first measurement of the whole suite (tiering).</param>
/// <param name="ScenarioWarmup">Load a client runs before its first measurement of each further scenario (new connections, a new client).</param>
internal sealed record SuiteSettings(int Repetitions, TimeSpan Duration, TimeSpan FirstWarmup, TimeSpan ScenarioWarmup);

/// <summary>
/// Runs the scenarios: for each, every client in turn, repeated, so that a slow moment of the
/// machine falls on all clients alike rather than on one; each client warms up before its first
/// repetition of a scenario. A client that does not take part in a scenario
/// (<see cref="IBenchClient.Runs"/>) is left out of it.
/// </summary>
internal sealed class SuiteRunner
{
    /// <summary>From this concurrency on, each client holds its connections only while it runs, and warms up every repetition.</summary>
    public const int ManyConnections = 10_000;

    private readonly IReadOnlyList<IBenchClient> _clients;
    private readonly string _baseUrl;
    private readonly SuiteSettings _settings;
    private readonly TextWriter _progress;
    private readonly Func<long?>? _acceptedConnections;

    /// <summary>A runner; <paramref name="acceptedConnections"/>, when given, counts the connections the server has accepted so far, its own question's included.</summary>
    public SuiteRunner(IReadOnlyList<IBenchClient> clients, string baseUrl, SuiteSettings settings, TextWriter progress, Func<long?>? acceptedConnections = null)
    {
        _clients = clients;
        _baseUrl = baseUrl;
        _settings = settings;
        _progress = progress;
        _acceptedConnections = acceptedConnections;
    }

    /// <summary>Runs every scenario and returns every measurement, in the order taken.</summary>
    public List<Measurement> Run(IReadOnlyList<Scenario> scenarios, CancellationToken cancellationToken = default)
    {
        var results = new List<Measurement>();
        var warmed = new HashSet<IBenchClient>();
        foreach (Scenario scenario in scenarios)
        {
            _progress.WriteLine($"== {scenario.Title}");
            for (int repetition = 0; repetition < _settings.Repetitions; repetition++)
            {
                foreach (IBenchClient client in _clients.Where(c => c.Runs(scenario)))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    // With thousands of connections, the clients' idle ones would add up past the server's
                    // limit: each client closes its own after measuring and opens them again, unmeasured.
                    bool many = scenario.Concurrency >= ManyConnections;
                    TimeSpan warmup = warmed.Add(client) ? _settings.FirstWarmup
                        : many ? Max(_settings.ScenarioWarmup, _settings.FirstWarmup)
                        : repetition > 0 ? TimeSpan.Zero : _settings.ScenarioWarmup;
                    long? acceptedBefore = _acceptedConnections?.Invoke();
                    Measurement measurement = client.Run(new RunSpec(scenario, _baseUrl, repetition, warmup, _settings.Duration, CloseAfter: many));
                    if (acceptedBefore is { } before && _acceptedConnections?.Invoke() is { } after)
                    {
                        // Less the second question's own connection (the first's was counted before).
                        measurement = measurement with { Connections = after - before - 1 };
                    }

                    results.Add(measurement);
                    _progress.WriteLine(Describe(measurement));
                }
            }
        }

        return results;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static string Describe(Measurement m) => m.Failure is not null
        ? $"   #{m.Repetition} {m.Client,-34} failed: {m.Failure}"
        : string.Create(CultureInfo.InvariantCulture, $"   #{m.Repetition} {m.Client,-34} {m.RequestsPerSecond,10:N0} req/s  p50 {m.P50Us,8:N0} µs  p99 {m.P99Us,8:N0} µs  errors {m.Errors}  connections {m.Connections}{(m.Gen2PerThousand is { } gen2 ? "  gen 2 /1k " + gen2.ToString("0.0", CultureInfo.InvariantCulture) : string.Empty)}{(m.FirstError is null ? string.Empty : "  first error: " + m.FirstError)}");
}
