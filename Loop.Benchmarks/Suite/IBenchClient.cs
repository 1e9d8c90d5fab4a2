namespace Loop.Benchmarks.Suite;

/// <summary>One client of the comparison: a .NET client (in this process or a child process) or an external tool.</summary>
internal interface IBenchClient : IDisposable
{
    /// <summary>The client's name as the report shows it.</summary>
    string Name { get; }

    /// <summary>Whether the client takes part in <paramref name="scenario"/> at all (the runner skips it where not); every scenario unless it says otherwise.</summary>
    bool Runs(Scenario scenario) => true;

    /// <summary>Runs one repetition of a scenario and says what it measured; a failure is a <see cref="Measurement.Failure"/>, not an exception.</summary>
    Measurement Run(RunSpec spec);
}

/// <summary>What a client is asked to do for one repetition.</summary>
/// <param name="Scenario">The scenario.</param>
/// <param name="BaseUrl">The server, e.g. <c>http://127.0.0.1:8080</c>; the scenario adds the path.</param>
/// <param name="Repetition">The repetition, from 0.</param>
/// <param name="Warmup">Load to run before measuring (not counted): tiering, connections.</param>
/// <param name="Duration">How long to measure.</param>
/// <param name="CloseAfter">Close the client (and its connections) after measuring, so that the server holds one client's connections at a time.</param>
internal sealed record RunSpec(Scenario Scenario, string BaseUrl, int Repetition, TimeSpan Warmup, TimeSpan Duration, bool CloseAfter = false)
{
    /// <summary>The URL to fetch.</summary>
    public string Url => BaseUrl.TrimEnd('/') + Scenario.Path;
}
