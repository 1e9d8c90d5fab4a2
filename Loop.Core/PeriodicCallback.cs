namespace Loop;

/// <summary>
/// Calls a function every <see cref="Period"/> on an <see cref="IOLoop"/>, Tornado's
/// <c>PeriodicCallback</c>. Loop thread only.
/// </summary>
/// <remarks>
/// The schedule is a grid: calls are due at start + n × period. A call that overruns skips the
/// grid points it missed rather than firing in a burst to catch up, and a clock that moves
/// backwards still advances the schedule by one period. The next call is scheduled only when
/// the current one has finished (for an async callback, when its task has completed), so calls
/// never overlap. With <see cref="Jitter"/>, each period is scaled by a random factor in
/// [1 − jitter/2, 1 + jitter/2]. An exception from the callback is logged by the loop's
/// logger and the schedule goes on.
/// </remarks>
public sealed class PeriodicCallback
{
    private static readonly Action<object?> s_run = static s => ((PeriodicCallback)s!).Run();

    private readonly Action? _action;
    private readonly Func<Task>? _asyncAction;
    private readonly IOLoop? _requestedLoop;
    private IOLoop? _loop;
    private TimeoutHandle _timeout;
    private bool _running;

    // Seconds on the loop's clock when the next call is due (Tornado's _next_timeout).
    internal double NextTimeout;

    // Returns a number in [0, 1); replaced by tests to make jitter deterministic.
    internal Func<double> Random = static () => System.Random.Shared.NextDouble();

    /// <summary>Creates a periodic callback; it does nothing until <see cref="Start"/>.</summary>
    /// <param name="callback">What to call.</param>
    /// <param name="period">Time between the starts of two calls; must be positive.</param>
    /// <param name="jitter">Random spread of each period, from 0 (none) to 1 (±50%).</param>
    /// <param name="loop">The loop to run on; null means <see cref="IOLoop.Current"/> when <see cref="Start"/> is called.</param>
    public PeriodicCallback(Action callback, TimeSpan period, double jitter = 0, IOLoop? loop = null)
        : this(period, jitter, loop)
    {
        ArgumentNullException.ThrowIfNull(callback);
        _action = callback;
    }

    /// <summary>Creates a periodic async callback: the next call is scheduled when the returned task completes.</summary>
    /// <inheritdoc cref="PeriodicCallback(Action, TimeSpan, double, IOLoop?)"/>
    public PeriodicCallback(Func<Task> callback, TimeSpan period, double jitter = 0, IOLoop? loop = null)
        : this(period, jitter, loop)
    {
        ArgumentNullException.ThrowIfNull(callback);
        _asyncAction = callback;
    }

    private PeriodicCallback(TimeSpan period, double jitter, IOLoop? loop)
    {
        if (period <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(period), period, "The period of a PeriodicCallback must be positive.");
        }

        if (!(jitter >= 0 && jitter <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "Jitter must be between 0 and 1.");
        }

        Period = period;
        Jitter = jitter;
        _requestedLoop = loop;
    }

    /// <summary>Time between the starts of two calls.</summary>
    public TimeSpan Period { get; }

    /// <summary>Random spread of each period: 0 (none) to 1 (±50%).</summary>
    public double Jitter { get; }

    /// <summary>True between <see cref="Start"/> and <see cref="Stop"/>.</summary>
    public bool IsRunning => _running;

    /// <summary>Starts calling: the first call comes one period from now. Starting a running callback does nothing.</summary>
    public void Start()
    {
        if (_running)
        {
            return;
        }

        _loop = _requestedLoop ?? IOLoop.Current;
        _running = true;
        NextTimeout = _loop.Time();
        ScheduleNext();
    }

    /// <summary>Stops calling and removes the pending timer. A call in progress finishes, and no further one is scheduled.</summary>
    public void Stop()
    {
        _running = false;
        _loop?.RemoveTimeout(_timeout);
        _timeout = default;
    }

    /// <summary>
    /// Moves <see cref="NextTimeout"/> past <paramref name="now"/> on the period grid (Tornado's
    /// <c>_update_next</c>): whole missed periods are skipped; if the clock went backwards, the
    /// schedule still advances by one period.
    /// </summary>
    internal void UpdateNext(double now)
    {
        double period = Period.TotalSeconds;
        if (Jitter > 0)
        {
            period *= 1 + (Jitter * (Random() - 0.5));
        }

        if (NextTimeout <= now)
        {
            NextTimeout += (Math.Floor((now - NextTimeout) / period) + 1) * period;
        }
        else
        {
            NextTimeout += period;
        }
    }

    private void ScheduleNext()
    {
        // Already scheduled: Stop and Start were called while an async call was in flight, and
        // Start scheduled the next call; the finishing call must not schedule a second one.
        if (!_running || _timeout.IsPending)
        {
            return;
        }

        UpdateNext(_loop!.Time());
        _timeout = _loop.CallAt(NextTimeout, s_run, this);
    }

    private void Run()
    {
        _timeout = default;
        if (!_running)
        {
            return;
        }

        if (_action is not null)
        {
            try
            {
                _action();
            }
            catch (Exception e)
            {
                _loop!.LogPeriodicFailure(e);
            }

            ScheduleNext();
            return;
        }

        Task task;
        try
        {
            task = _asyncAction!();
        }
        catch (Exception e)
        {
            _loop!.LogPeriodicFailure(e);
            ScheduleNext();
            return;
        }

        if (task.IsCompleted)
        {
            AfterTask(task);
        }
        else
        {
            _loop!.AddFuture(task, AfterTask);
        }
    }

    private void AfterTask(Task task)
    {
        if (task.IsFaulted)
        {
            _loop!.LogPeriodicFailure(task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException! : task.Exception);
        }

        ScheduleNext();
    }
}
