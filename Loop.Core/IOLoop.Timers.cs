using Loop.Timers;

namespace Loop;

public sealed partial class IOLoop
{
    private readonly TimerTable _timers = new();

    // Timers a pass took off the heap but must not run (see RunDueTimers); reused.
    private readonly List<(int Slot, long Deadline)> _setAside = new();

    /// <summary>Timers scheduled and not yet run or removed. Loop thread only.</summary>
    public int PendingTimeoutCount => _timers.LiveCount + _setAside.Count;

    /// <summary>
    /// Runs <paramref name="callback"/> on the loop thread once <paramref name="delay"/> has
    /// passed (a zero or negative delay: in the next iteration's timer phase). Loop thread only.
    /// </summary>
    /// <returns>A handle for <see cref="RemoveTimeout"/>.</returns>
    public TimeoutHandle CallLater(TimeSpan delay, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Schedule(MonotonicClock.Now + MonotonicClock.FromTimeSpan(delay), callback, null);
    }

    /// <summary>Runs <c>callback(state)</c> once <paramref name="delay"/> has passed; allocates nothing. Loop thread only.</summary>
    public TimeoutHandle CallLater(TimeSpan delay, Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Schedule(MonotonicClock.Now + MonotonicClock.FromTimeSpan(delay), callback, state);
    }

    /// <summary>
    /// Runs <paramref name="callback"/> at <paramref name="when"/>, a time on the
    /// <see cref="Time"/> clock (seconds). A time in the past runs in the next iteration. Loop thread only.
    /// </summary>
    public TimeoutHandle CallAt(double when, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Schedule(MonotonicClock.FromSeconds(when), callback, null);
    }

    /// <summary>Runs <c>callback(state)</c> at <paramref name="when"/> (seconds on the <see cref="Time"/> clock). Loop thread only.</summary>
    public TimeoutHandle CallAt(double when, Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Schedule(MonotonicClock.FromSeconds(when), callback, state);
    }

    /// <summary>Tornado's <c>add_timeout</c> with an absolute deadline: the same as <see cref="CallAt(double, Action)"/>.</summary>
    public TimeoutHandle AddTimeout(double deadline, Action callback) => CallAt(deadline, callback);

    /// <summary>Tornado's <c>add_timeout</c> with an absolute deadline and a state argument.</summary>
    public TimeoutHandle AddTimeout(double deadline, Action<object?> callback, object? state) => CallAt(deadline, callback, state);

    /// <summary>Tornado's <c>add_timeout</c> with a relative deadline: the same as <see cref="CallLater(TimeSpan, Action)"/>.</summary>
    public TimeoutHandle AddTimeout(TimeSpan delay, Action callback) => CallLater(delay, callback);

    /// <summary>Tornado's <c>add_timeout</c> with a relative deadline and a state argument.</summary>
    public TimeoutHandle AddTimeout(TimeSpan delay, Action<object?> callback, object? state) => CallLater(delay, callback, state);

    /// <summary>
    /// Cancels a pending timeout in O(1). A timeout removed by a callback that runs in the same
    /// iteration, before it, does not run. Removing one that already ran, was already removed,
    /// or <c>default</c>, does nothing. Loop thread only.
    /// </summary>
    /// <exception cref="ArgumentException">The handle belongs to another loop.</exception>
    public void RemoveTimeout(TimeoutHandle timeout)
    {
        if (timeout.Table is null)
        {
            return;
        }

        if (!ReferenceEquals(timeout.Table, _timers))
        {
            throw new ArgumentException("The timeout belongs to another IOLoop.", nameof(timeout));
        }

        _timers.Remove(timeout);
    }

    private TimeoutHandle Schedule(long deadline, object callback, object? state)
    {
        ThrowIfClosed();
        return _timers.Add(deadline, callback, state);
    }

    /// <summary>
    /// Runs every timer that was due at <paramref name="now"/> and already scheduled when the
    /// pass began, in (deadline, sequence) order, while <paramref name="allowance"/> lasts (the
    /// timers it leaves stay due and run first next time). Returns how many ran.
    /// </summary>
    /// <remarks>
    /// Each timer runs as it comes off the heap. A timer newer than the pass (scheduled by a
    /// timer that ran in it, with a deadline already past) is set aside and put back afterwards,
    /// so it waits for the next pass (libuv's timer_no_double_call_once) and cannot starve the
    /// older due timers behind it. The effect is that of collecting the due timers before
    /// running any, as Tornado does, without a second walk over the timers.
    /// </remarks>
    private int RunDueTimers(long now, ref Allowance allowance)
    {
        int ran = 0;
        TimerTable timers = _timers;
        long newestInPass = timers.NewestSequence;
        while (allowance.AllowsCallback(ran) && timers.TryTakeDue(now, out int slot, out long deadline))
        {
            if (timers.SequenceOf(slot) > newestInPass)
            {
                _setAside.Add((slot, deadline));
                continue;
            }

            object callback = timers.Release(slot, out object? state);
            allowance.TookCallback();
            InvokeCallback(callback, state);
            ran++;
        }

        if (_setAside.Count > 0)
        {
            foreach ((int slot, long deadline) in _setAside)
            {
                timers.Restore(slot, deadline);
            }

            _setAside.Clear();
        }

        _timersFired += ran;
        return ran;
    }

    /// <summary>The earliest live deadline, dropping cancelled timers that sit at the top.</summary>
    private bool TryGetNextDeadline(out long deadline) => _timers.TryPeekDeadline(out deadline);
}
