namespace Loop.Benchmarks.Embedding;

/// <summary>How the host bounds each <c>RunOnce</c> in a round.</summary>
internal enum HostMode
{
    /// <summary><c>RunOnce(TimeSpan.Zero)</c>: the loop runs everything it has.</summary>
    Unbounded,

    /// <summary><c>RunOnce(TimeSpan.Zero, TickBudget.FromTimeSlice(budget))</c> on every call.</summary>
    Budget,

    /// <summary>
    /// The budget, and never past the next tick: the slice is the budget or the time left until
    /// the next tick falls due, whichever is shorter, and with no time left the host does not
    /// tick the loop at all but waits for its timer (a host that plans its frame).
    /// </summary>
    Frame,
}
