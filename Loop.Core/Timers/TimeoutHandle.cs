namespace Loop;

/// <summary>
/// A callback scheduled on an <see cref="IOLoop"/> by <see cref="IOLoop.CallLater(TimeSpan, Action)"/>,
/// <see cref="IOLoop.CallAt(double, Action)"/> or <see cref="IOLoop.AddTimeout(double, Action)"/>.
/// Pass it to <see cref="IOLoop.RemoveTimeout"/> to cancel it. A handle is used once: it does
/// not repeat and cannot be rescheduled.
/// </summary>
public sealed class TimeoutHandle
{
    internal long DeadlineTicks;
    internal long Sequence;
    internal object? Callback;
    internal object? State;
    internal bool InHeap;

    internal TimeoutHandle(long deadlineTicks, long sequence, object callback, object? state)
    {
        DeadlineTicks = deadlineTicks;
        Sequence = sequence;
        Callback = callback;
        State = state;
    }

    /// <summary>When the callback is due, on the <see cref="IOLoop.Time"/> clock (seconds).</summary>
    public double Deadline => MonotonicClock.ToSeconds(DeadlineTicks);

    /// <summary>True until the callback has run or the timeout was removed. Loop thread only.</summary>
    public bool IsPending => Callback is not null;
}
