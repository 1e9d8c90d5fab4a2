namespace Loop;

/// <summary>
/// A bound on the work one <see cref="IOLoop.RunOnce(TimeSpan, TickBudget)"/> call does, for a
/// host that must get its thread back in time (a game server's frame, a scheduler's slice).
/// </summary>
/// <remarks>
/// <para>
/// A tick has three phases: the queued callbacks, the due timers, and the handlers of ready
/// descriptors. Once the budget is spent, a phase stops taking new work; what it leaves runs
/// first at the next tick, in the order it would have run. Each phase still runs at least one
/// item per tick when it has any, so none of them is starved by the others: a tick can overrun
/// its time slice by the cost of one callback, one timer and one handler (a libcurl client's
/// <c>curl_multi_socket_action</c> call is one handler or one timer).
/// </para>
/// <para>
/// While work is left over, <see cref="IOLoop.BackendTimeout"/> is zero and the next
/// <c>RunOnce</c> does not wait. The default value (<see cref="Unlimited"/>) sets no bound.
/// </para>
/// </remarks>
public readonly record struct TickBudget
{
    /// <summary>No bound: the tick runs every callback queued, every due timer and every ready handler (the same as <see cref="IOLoop.RunOnce(TimeSpan)"/>).</summary>
    public static TickBudget Unlimited => default;

    /// <summary>
    /// The longest the tick's own work may take, measured from the start of the call; null for
    /// no time bound. Time spent waiting for I/O (the <c>maxWait</c> of <c>RunOnce</c>) does
    /// not count. The loop reads the clock after each callback, timer and handler.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative time.</exception>
    public TimeSpan? TimeSlice
    {
        get;
        init
        {
            if (value is { } slice)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(slice, TimeSpan.Zero, nameof(TimeSlice));
            }

            field = value;
        }
    }

    /// <summary>The most queued callbacks and due timers one tick runs, counted together; 0 for no limit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative number.</exception>
    public int MaxCallbacks
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxCallbacks));
            field = value;
        }
    }

    /// <summary>The most handlers of ready descriptors one tick calls; 0 for no limit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative number.</exception>
    public int MaxHandlers
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxHandlers));
            field = value;
        }
    }

    /// <summary>True when nothing is bounded.</summary>
    public bool IsUnlimited => TimeSlice is null && MaxCallbacks == 0 && MaxHandlers == 0;

    /// <summary>A budget of <paramref name="slice"/> of the tick's own time and no count limits.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slice"/> is negative.</exception>
    public static TickBudget FromTimeSlice(TimeSpan slice) => new() { TimeSlice = slice };
}
