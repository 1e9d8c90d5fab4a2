using Loop.Timers;

namespace Loop;

/// <summary>
/// Names a callback scheduled on an <see cref="IOLoop"/> by <see cref="IOLoop.CallLater(TimeSpan, Action)"/>,
/// <see cref="IOLoop.CallAt(double, Action)"/> or <see cref="IOLoop.AddTimeout(double, Action)"/>;
/// pass it to <see cref="IOLoop.RemoveTimeout"/> to cancel the callback. A timer runs once.
/// </summary>
/// <remarks>
/// A handle is a small value: copying it is free and scheduling allocates nothing. It stays
/// safe to use after its timer has run or been removed (the loop reuses the timer's slot under
/// a new generation, so an old handle can never cancel a newer timer). <c>default</c> names no
/// timer: it is never pending and removing it does nothing.
/// </remarks>
public readonly struct TimeoutHandle : IEquatable<TimeoutHandle>
{
    internal readonly TimerTable? Table;
    internal readonly long DeadlineTicks;
    internal readonly int Slot;
    internal readonly int Generation;

    internal TimeoutHandle(TimerTable table, int slot, int generation, long deadlineTicks)
    {
        Table = table;
        Slot = slot;
        Generation = generation;
        DeadlineTicks = deadlineTicks;
    }

    /// <summary>When the callback is (or was) due, on the <see cref="IOLoop.Time"/> clock (seconds); 0 for <c>default</c>.</summary>
    public double Deadline => Table is null ? 0 : MonotonicClock.ToSeconds(DeadlineTicks);

    /// <summary>True until the callback has started running or the timeout was removed. Loop thread only.</summary>
    public bool IsPending => Table is not null && Table.IsPending(Slot, Generation);

    /// <inheritdoc/>
    public bool Equals(TimeoutHandle other) => ReferenceEquals(Table, other.Table) && Slot == other.Slot && Generation == other.Generation;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TimeoutHandle other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Table, Slot, Generation);

    /// <summary>True if both name the same timer.</summary>
    public static bool operator ==(TimeoutHandle left, TimeoutHandle right) => left.Equals(right);

    /// <summary>True if they name different timers.</summary>
    public static bool operator !=(TimeoutHandle left, TimeoutHandle right) => !left.Equals(right);
}
