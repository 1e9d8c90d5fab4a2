using System.Runtime.ExceptionServices;

namespace Loop;

public sealed partial class IOLoop
{
    /// <summary>
    /// How long a host that embeds this loop may sleep before calling <see cref="RunOnce(TimeSpan)"/>
    /// again: zero when callbacks are waiting or a budgeted tick left work over (see
    /// <see cref="TickBudget"/>), the time to the next timer, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> when there is none. Pair it with
    /// <see cref="BackendFileDescriptor"/> (libuv's <c>uv_backend_timeout</c>). Loop thread, or
    /// the host thread between runs.
    /// </summary>
    public TimeSpan BackendTimeout
    {
        get
        {
            if (_local.Count > 0 || _eventCursor < _eventCount || PendingCallbackCount > 0)
            {
                return TimeSpan.Zero;
            }

            if (!TryGetNextDeadline(out long deadline))
            {
                return Timeout.InfiniteTimeSpan;
            }

            return TimeSpan.FromMilliseconds(MonotonicClock.MillisecondsUntil(deadline, MonotonicClock.Now));
        }
    }

    /// <summary>
    /// Runs the loop on the calling thread until <see cref="Stop"/> is called. If
    /// <see cref="Stop"/> was called while the loop was not running, returns at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The loop is already running (for example, Start was called from one of its callbacks).</exception>
    /// <exception cref="ObjectDisposedException">The loop is closed.</exception>
    /// <exception cref="System.ComponentModel.Win32Exception">The kernel poller failed; the loop has stopped.</exception>
    public void Start()
    {
        BeginRun(keepThread: false);
        try
        {
            Allowance unlimited = default;
            while (!_stopRequested)
            {
                RunIteration(-1, waitOnlyIfIdle: false, ref unlimited);
            }
        }
        finally
        {
            _stopRequested = false;
            EndRun();
        }
    }

    /// <summary>
    /// Asks the loop to stop: the current iteration finishes its callbacks and timers, then
    /// <see cref="Start"/> returns. Thread-safe. Called while the loop is not running, it makes
    /// the next <see cref="Start"/> return at once.
    /// </summary>
    public void Stop()
    {
        _stopRequested = true;
        if (!IsOnLoopThread)
        {
            Wake();
        }
    }

    /// <summary>
    /// Runs one iteration on the calling thread and returns, for hosts that tick the loop from
    /// their own main loop. It runs the callbacks that are queued and the timers that are due,
    /// then looks for I/O and calls the handlers of ready descriptors. If no callback or timer
    /// ran, it first waits for I/O for at most <paramref name="maxWait"/> (less if a timer falls
    /// due sooner) and afterwards also runs the callbacks and timers that arrived during the
    /// wait (callbacks from other threads, timers that fell due). So every call that waits
    /// returns having done what it waited for, and a call that found work returns without
    /// waiting. <c>RunOnce(TimeSpan.Zero)</c> never blocks; <see cref="Timeout.InfiniteTimeSpan"/>
    /// waits until there is something to do.
    /// </summary>
    /// <remarks>
    /// The calling thread becomes the loop's own, between ticks as well: <see cref="IsOnLoopThread"/>
    /// is true there, callbacks it adds are queued without a lock or wake-up, a fetch it starts
    /// runs at once on the loop, and <c>RunOnce</c> from another thread is refused. On a plain
    /// thread (no <see cref="System.Threading.SynchronizationContext"/> of its own) the first
    /// tick also installs the loop's context there and makes the loop <see cref="Current"/>, as
    /// <see cref="AttachCurrentThread"/> does, so an <c>await</c> in the host's code resumes on
    /// the host thread at a later tick, never on the thread pool (see
    /// <see cref="IOLoopOptions.AttachOnFirstTick"/>). The thread keeps the loop until
    /// <see cref="DetachCurrentThread"/>, <see cref="Close"/> on that thread, or its end. A
    /// thread-pool thread (an async host loop) holds the loop only during the call.
    /// </remarks>
    /// <returns>True if the loop still has handlers, timers or callbacks (libuv's <c>uv_run</c> result).</returns>
    /// <exception cref="InvalidOperationException">The loop is already running, or another live thread owns it.</exception>
    public bool RunOnce(TimeSpan maxWait) => RunOnce(maxWait, default);

    /// <summary>
    /// As <see cref="RunOnce(TimeSpan)"/>, doing no more work than <paramref name="budget"/>
    /// allows: once it is spent, the callbacks, timers and ready handlers left over wait for
    /// the next call, which runs them first, in order. Each phase still runs at least one item
    /// when it has any, so nothing is starved. While work is left over,
    /// <see cref="BackendTimeout"/> is zero and the next call does not wait.
    /// </summary>
    /// <param name="maxWait">The longest wait for I/O when the tick finds nothing to do (it does not count against the budget).</param>
    /// <param name="budget">The bound on the tick's own work; <see cref="TickBudget.Unlimited"/> for none.</param>
    /// <returns>True if the loop still has handlers, timers or callbacks, or work left over.</returns>
    /// <exception cref="InvalidOperationException">The loop is already running, or another live thread owns it.</exception>
    /// <example>
    /// A 60 Hz game loop that gives the network 2 ms of each frame:
    /// <code>
    /// var budget = TickBudget.FromTimeSlice(TimeSpan.FromMilliseconds(2));
    /// loop.AttachCurrentThread();
    /// while (running)
    /// {
    ///     WaitForFrameOrLoop(loop.BackendFileDescriptor, loop.BackendTimeout);
    ///     if (frameDue) { RunFrame(); }
    ///     loop.RunOnce(TimeSpan.Zero, budget);
    /// }
    /// </code>
    /// </example>
    public bool RunOnce(TimeSpan maxWait, TickBudget budget)
    {
        int waitMs = maxWait == Timeout.InfiniteTimeSpan ? -1
            : maxWait <= TimeSpan.Zero ? 0
            : (int)Math.Min(int.MaxValue, Math.Ceiling(maxWait.TotalMilliseconds));
        long start = BeginRun(keepThread: true);
        try
        {
            Allowance allowance = Allowance.For(budget, start);
            int ran = RunIteration(waitMs, waitOnlyIfIdle: true, ref allowance);
            if (ran == 0 && !_stopRequested)
            {
                RunCallbacks(ref allowance);
                RunDueTimers(RefreshIterationTime(), ref allowance);
            }
        }
        finally
        {
            _stopRequested = false;
            EndRun();
        }

        return _handlerCount > 0 || PendingTimeoutCount > 0 || PendingCallbackCount > 0 || _eventCursor < _eventCount;
    }

    /// <summary>
    /// Starts the loop, runs <paramref name="func"/> on it, and stops when the task it returns
    /// completes; Tornado's <c>run_sync</c>. The result or exception of the task comes out of
    /// this call (an exception <paramref name="func"/> throws synchronously as well). This call
    /// blocks the calling thread by design: it is how a program enters the loop.
    /// </summary>
    /// <param name="func">Called on the loop thread, with the loop current.</param>
    /// <param name="timeout">If the task has not completed by then, the loop stops and <see cref="TimeoutException"/> is thrown. Null: no limit.</param>
    /// <exception cref="TimeoutException">The task did not complete within <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The loop is already running, or <see cref="Stop"/> was called before the task completed.</exception>
    public void RunSync(Func<Task> func, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(func);
        Task task = RunSyncCore(_ => func(), timeout, cancellation: null);
        task.GetAwaiter().GetResult(); // Completed: RunSyncCore returns only finished tasks.
    }

    /// <summary>
    /// As <see cref="RunSync(Func{Task}, TimeSpan?)"/>, and the function gets a token that is
    /// cancelled when <paramref name="timeout"/> expires, so the work can be abandoned cleanly.
    /// </summary>
    public void RunSync(Func<CancellationToken, Task> func, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(func);
        using var cancellation = new CancellationTokenSource();
        Task task = RunSyncCore(func, timeout, cancellation);
        task.GetAwaiter().GetResult(); // Completed, as above.
    }

    /// <summary>As <see cref="RunSync(Func{Task}, TimeSpan?)"/>, returning the task's result.</summary>
    public T RunSync<T>(Func<Task<T>> func, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(func);
        var task = (Task<T>)RunSyncCore(_ => func(), timeout, cancellation: null);
        return task.GetAwaiter().GetResult(); // Completed, as above.
    }

    /// <summary>As <see cref="RunSync(Func{CancellationToken, Task}, TimeSpan?)"/>, returning the task's result.</summary>
    public T RunSync<T>(Func<CancellationToken, Task<T>> func, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(func);
        using var cancellation = new CancellationTokenSource();
        var task = (Task<T>)RunSyncCore(func, timeout, cancellation);
        return task.GetAwaiter().GetResult(); // Completed, as above.
    }

    private Task RunSyncCore(Func<CancellationToken, Task> func, TimeSpan? timeout, CancellationTokenSource? cancellation)
    {
        if (_running)
        {
            throw new InvalidOperationException("RunSync cannot be called while the IOLoop is running.");
        }

        ThrowIfClosed();

        // Before anything is queued or scheduled: the timer heap is the owning thread's.
        ThrowIfOwnedElsewhere();

        // A Stop() requested while the loop was idle belongs to an earlier Start, not to this call.
        _stopRequested = false;
        var run = new SyncRun(this, func, cancellation);
        AddCallback(SyncRun.s_begin, run);
        TimeoutHandle timer = default;
        if (timeout is { } limit && limit != Timeout.InfiniteTimeSpan)
        {
            // The timer is scheduled from this thread before the loop runs, which is safe: the
            // loop is not running, so nothing else touches its heap.
            timer = CallLater(limit, SyncRun.s_timedOut, run);
        }

        try
        {
            Start();
        }
        finally
        {
            run.Done = true;
            RemoveTimeout(timer);
        }

        run.SyncError?.Throw();
        if (run.Task is { IsCompleted: true } task)
        {
            return task;
        }

        if (run.TimedOut)
        {
            throw new TimeoutException($"Operation timed out after {timeout!.Value.TotalSeconds:0.###} seconds.");
        }

        throw new InvalidOperationException("The IOLoop was stopped before the task completed.");
    }

    /// <summary>Enters a run on the calling thread; returns the time it began.</summary>
    /// <param name="keepThread">The thread keeps the loop between runs (RunOnce).</param>
    private long BeginRun(bool keepThread)
    {
        ThrowIfClosed();
        if (_running)
        {
            throw new InvalidOperationException("This IOLoop is already running.");
        }

        ClaimThread(keepThread);
        _running = true;
        _savedCurrent = t_current;
        t_current = this;
        _savedContext = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_syncContext);

        // The callbacks that run first see the time this run began, not a stale or zero one.
        return RefreshIterationTime();
    }

    private void EndRun()
    {
        SynchronizationContext.SetSynchronizationContext(_savedContext);
        t_current = _savedCurrent;
        _savedContext = null;
        _savedCurrent = null;
        ReleaseThreadAfterRun();
        _running = false;
        Interlocked.Exchange(ref _whenStopped, null)?.TrySetResult();
    }

    // Completed when the current run ends (DisposeAsync from another thread waits for it).
    private TaskCompletionSource? _whenStopped;

    /// <summary>
    /// Closes the loop as <see cref="Dispose"/> does; if it is running <see cref="Start"/> on
    /// another thread, first stops it and waits (asynchronously) for that run to end.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called on the loop's own thread while it runs (from one of its callbacks): a loop cannot close under itself.</exception>
    public async ValueTask DisposeAsync()
    {
        if (_running && !IsOnLoopThread)
        {
            var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _whenStopped, stopped);
            Stop();
            if (_running)
            {
                await stopped.Task.ConfigureAwait(false);
            }

            Interlocked.CompareExchange(ref _whenStopped, null, stopped);
        }

        Close(allFds: false);
    }

    // What the loop has run, for the Loop.IOLoop meter (LoopTelemetry): counted always (an
    // add per batch), reported per iteration only while someone listens.
    private long _callbacksRun;
    private long _timersFired;
    private long _reportedCallbacks;
    private long _reportedTimers;
    private long _reportedHandlerCalls;
    private bool _measurePoll;
    private long _polledTicks;

    /// <summary>One pass: callbacks, due timers, one wait in the poller, ready handlers.</summary>
    /// <param name="maxWaitMs">The longest wait in the poller; -1 for no limit.</param>
    /// <param name="waitOnlyIfIdle">Do not wait at all once callbacks or timers have run (RunOnce's contract).</param>
    /// <param name="allowance">What the tick may still do (unbounded for Start).</param>
    /// <returns>How many callbacks and timers ran before the wait.</returns>
    private int RunIteration(int maxWaitMs, bool waitOnlyIfIdle, ref Allowance allowance)
    {
        if (!LoopTelemetry.Observed)
        {
            return RunIterationCore(maxWaitMs, waitOnlyIfIdle, ref allowance);
        }

        // Someone listens to the Loop.IOLoop meter: the iteration's busy time (the wait in the
        // poller left out) and what it ran since the last report.
        long started = MonotonicClock.Now;
        _polledTicks = 0;
        _measurePoll = true;
        int ran = RunIterationCore(maxWaitMs, waitOnlyIfIdle, ref allowance);
        _measurePoll = false;
        long busy = MonotonicClock.Now - started - _polledTicks;
        LoopTelemetry.Report(
            _callbacksRun - _reportedCallbacks,
            _timersFired - _reportedTimers,
            HandlerCalls - _reportedHandlerCalls,
            MonotonicClock.ToSeconds(busy));
        _reportedCallbacks = _callbacksRun;
        _reportedTimers = _timersFired;
        _reportedHandlerCalls = HandlerCalls;
        return ran;
    }

    private int RunIterationCore(int maxWaitMs, bool waitOnlyIfIdle, ref Allowance allowance)
    {
        int ran = RunCallbacks(ref allowance);
        ran += RunDueTimers(RefreshIterationTime(), ref allowance);
        if (_stopRequested)
        {
            return ran;
        }

        if (_eventCursor < _eventCount)
        {
            // A budgeted tick left ready handlers uncalled: they go before the poller is asked
            // again (their descriptors are level-triggered, so nothing is lost meanwhile).
            RefreshIterationTime();
            Dispatch(ref allowance);
            return ran;
        }

        int timeout = maxWaitMs;
        if (_local.Count > 0 || _localRunning.Count > 0 || _remoteRunning.Count > 0 || (waitOnlyIfIdle && ran > 0))
        {
            // More work is queued or left over, or this tick already made progress: look at I/O
            // without sleeping.
            timeout = 0;
        }
        else if (timeout != 0 && TryGetNextDeadline(out long deadline))
        {
            int untilTimer = MonotonicClock.MillisecondsUntil(deadline, MonotonicClock.Now);
            timeout = timeout < 0 ? untilTimer : Math.Min(timeout, untilTimer);
        }

        _eventCount = Poll(timeout);
        _eventCursor = 0;
        RefreshIterationTime();
        Dispatch(ref allowance);
        return ran;
    }

    /// <summary>Reads the clock once for the phase that follows (timers, or the handlers of one poll) and publishes it as <see cref="IterationTime"/>.</summary>
    private long RefreshIterationTime()
    {
        long now = MonotonicClock.Now;
        _iterationTimestamp = now;
        _iterationCount++;
        return now;
    }

    /// <summary>Waits in the poller, retrying after EINTR with what is left of the timeout.</summary>
    private int Poll(int timeoutMs)
    {
        long start = timeoutMs > 0 || _measurePoll ? MonotonicClock.Now : 0;
        while (true)
        {
            int count = _poller.Wait(_events, timeoutMs);
            if (count >= 0)
            {
                if (_measurePoll)
                {
                    _polledTicks = MonotonicClock.Now - start;
                }

                return count;
            }

            if (timeoutMs > 0)
            {
                long deadline = start + MonotonicClock.FromTimeSpan(TimeSpan.FromMilliseconds(timeoutMs));
                timeoutMs = MonotonicClock.MillisecondsUntil(deadline, MonotonicClock.Now);
            }
        }
    }

    /// <summary>State of one <see cref="RunSync(Func{Task}, TimeSpan?)"/> call, passed through callbacks without closures.</summary>
    private sealed class SyncRun
    {
        internal static readonly Action<object?> s_begin = static s => ((SyncRun)s!).Begin();
        internal static readonly Action<object?> s_timedOut = static s => ((SyncRun)s!).OnTimeout();
        private static readonly Action<object?> s_completed = static s => ((SyncRun)s!).OnCompleted();

        private readonly IOLoop _loop;
        private readonly Func<CancellationToken, Task> _func;
        private readonly CancellationTokenSource? _cancellation;

        internal Task? Task;
        internal ExceptionDispatchInfo? SyncError;
        internal bool TimedOut;

        // Set once Start has returned. A task that completes later must not stop the loop's next run.
        internal bool Done;

        internal SyncRun(IOLoop loop, Func<CancellationToken, Task> func, CancellationTokenSource? cancellation)
        {
            _loop = loop;
            _func = func;
            _cancellation = cancellation;
        }

        private void Begin()
        {
            // The RunSync call this belonged to has already returned; never start its work late.
            if (Done)
            {
                return;
            }

            try
            {
                Task = _func(_cancellation?.Token ?? CancellationToken.None);
            }
            catch (Exception e)
            {
                SyncError = ExceptionDispatchInfo.Capture(e);
                _loop.Stop();
                return;
            }

            if (Task is null)
            {
                SyncError = ExceptionDispatchInfo.Capture(new InvalidOperationException("The function passed to RunSync returned a null task."));
                _loop.Stop();
                return;
            }

            if (Task.IsCompleted)
            {
                _loop.Stop();
            }
            else
            {
                // Completion may happen on any thread; the stop is decided on the loop thread.
                Task.ContinueWith(
                    static (_, s) => ((SyncRun)s!)._loop.AddCallback(s_completed, s),
                    this,
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }

        private void OnCompleted()
        {
            if (!Done)
            {
                _loop.Stop();
            }
        }

        private void OnTimeout()
        {
            TimedOut = true;
            _cancellation?.Cancel();
            _loop.Stop();
        }
    }
}
