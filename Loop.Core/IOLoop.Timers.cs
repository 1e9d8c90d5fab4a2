using Loop.Timers;

namespace Loop;

public sealed partial class IOLoop
{
    // Heap compaction thresholds, as in Tornado: rebuild once more than this many cancelled
    // timers sit in the heap and they are more than half of it.
    private const int CompactThreshold = 512;

    private readonly TimerHeap _timers = new();
    private List<TimeoutHandle>? _setAside;
    private int _cancelledTimers;
    private long _timerSequence;

    /// <summary>Timers scheduled and not yet run or removed. Loop thread only.</summary>
    public int PendingTimeoutCount => _timers.Count - _cancelledTimers;

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

    /// <summary>Runs <c>callback(state)</c> once <paramref name="delay"/> has passed; allocates only the handle. Loop thread only.</summary>
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
    /// iteration, before it, does not run. Removing one that already ran, or was already
    /// removed, does nothing. Loop thread only.
    /// </summary>
    public void RemoveTimeout(TimeoutHandle timeout)
    {
        ArgumentNullException.ThrowIfNull(timeout);
        if (timeout.Callback is null)
        {
            return;
        }

        timeout.Callback = null;
        timeout.State = null;
        if (timeout.InHeap)
        {
            _cancelledTimers++;
            if (_cancelledTimers > CompactThreshold && _cancelledTimers > _timers.Count >> 1)
            {
                _cancelledTimers -= _timers.Compact();
            }
        }
    }

    private TimeoutHandle Schedule(long deadline, object callback, object? state)
    {
        ThrowIfClosed();
        var timeout = new TimeoutHandle(deadline, ++_timerSequence, callback, state);
        _timers.Push(timeout);
        return timeout;
    }

    /// <summary>
    /// Runs every timer that was due at <paramref name="now"/> and already scheduled when the
    /// pass began, in (deadline, sequence) order.
    /// </summary>
    /// <remarks>
    /// Each timer runs as it comes off the heap. A timer newer than the pass (scheduled by a
    /// timer that ran in it, with a deadline already past) is set aside and put back afterwards,
    /// so it waits for the next pass (libuv's timer_no_double_call_once) and cannot starve the
    /// older due timers behind it. The effect is that of collecting the due timers before
    /// running any, as Tornado does, without walking the handles twice: with 200,000 due
    /// timers, the second walk cost a cache miss per timer (TimerBenchmarks).
    /// </remarks>
    private void RunDueTimers(long now)
    {
        TimerHeap heap = _timers;
        long newestInPass = _timerSequence;
        while (heap.Count > 0 && heap.PeekDeadline() <= now)
        {
            TimeoutHandle top = heap.Peek();
            object? callback = top.Callback;
            if (callback is null)
            {
                heap.Pop();
                _cancelledTimers--;
                continue;
            }

            heap.Pop();
            if (top.Sequence > newestInPass)
            {
                (_setAside ??= new List<TimeoutHandle>()).Add(top);
                continue;
            }

            object? state = top.State;
            top.Callback = null;
            top.State = null;
            InvokeCallback(callback, state);
        }

        if (_setAside is { Count: > 0 } setAside)
        {
            foreach (TimeoutHandle timeout in setAside)
            {
                // Removed while set aside: it was not counted as a cancelled heap entry.
                if (timeout.Callback is not null)
                {
                    heap.Push(timeout);
                }
            }

            setAside.Clear();
        }
    }

    /// <summary>The earliest live deadline, dropping cancelled timers that sit at the top.</summary>
    private bool TryGetNextDeadline(out long deadline)
    {
        TimerHeap heap = _timers;
        while (heap.Count > 0)
        {
            TimeoutHandle top = heap.Peek();
            if (top.Callback is not null)
            {
                deadline = top.DeadlineTicks;
                return true;
            }

            heap.Pop();
            _cancelledTimers--;
        }

        deadline = 0;
        return false;
    }
}
