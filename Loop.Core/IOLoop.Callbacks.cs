using Loop.Callbacks;

namespace Loop;

public sealed partial class IOLoop
{
    // Two queues: the loop thread appends to _local without a lock (Tornado's lock-free path on
    // the loop thread); every other thread appends to _remote under _remoteLock and, when it goes
    // from empty to non-empty, wakes the poller. Each iteration swaps both into their *Running
    // twins and runs only those, so callbacks added meanwhile wait for the next iteration.
    private readonly object _remoteLock = new();
    private CallbackQueue _local = new(64);
    private CallbackQueue _localRunning = new(64);
    private CallbackQueue _remote = new(64);
    private CallbackQueue _remoteRunning = new(64);

    // How far the running twins have been taken: a budgeted tick (TickBudget) can stop part way
    // and leave the rest for the next, which finishes them before it takes newer callbacks.
    private int _localCursor;
    private int _remoteCursor;
    private TaskScheduler? _executor;

    /// <summary>
    /// Callbacks waiting to run: queued for the next iteration, or left over by a budgeted tick.
    /// Exact on the loop thread between runs; a snapshot elsewhere.
    /// </summary>
    public int PendingCallbackCount
    {
        get
        {
            int leftOver = _localRunning.Count - _localCursor + _remoteRunning.Count - _remoteCursor;
            lock (_remoteLock)
            {
                return _local.Count + _remote.Count + leftOver;
            }
        }
    }

    /// <summary>
    /// Where <see cref="RunInExecutor{T}(Func{T})"/> runs work (null: the thread pool). Tornado's
    /// <c>set_default_executor</c>.
    /// </summary>
    public TaskScheduler? DefaultExecutor
    {
        get => _executor;
        set => _executor = value;
    }

    /// <summary>
    /// Runs <paramref name="callback"/> on the loop thread in the next iteration. Thread-safe:
    /// from another thread it wakes a sleeping loop. After <see cref="Close"/> the callback is
    /// dropped silently. An exception it throws is logged and the loop goes on.
    /// </summary>
    public void AddCallback(Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        Enqueue(callback, null);
    }

    /// <summary>
    /// Runs <c>callback(state)</c> on the loop thread in the next iteration. Thread-safe. With a
    /// static lambda or a cached delegate this allocates nothing.
    /// </summary>
    public void AddCallback(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        Enqueue(callback, state);
    }

    /// <summary>
    /// Runs an async callback on the loop thread in the next iteration and watches the task it
    /// returns: if the task faults, the exception is logged (a cancelled task is ignored).
    /// Thread-safe.
    /// </summary>
    public void AddCallback(Func<Task> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        Enqueue(callback, null);
    }

    /// <summary>The same as <see cref="AddCallback(Func{Task})"/>: fire and forget, with failures logged. Thread-safe.</summary>
    public void SpawnCallback(Func<Task> callback) => AddCallback(callback);

    /// <summary>
    /// Calls <paramref name="callback"/> on the loop thread once <paramref name="task"/> has
    /// completed, always in a later iteration (never inline), with the completed task.
    /// Thread-safe.
    /// </summary>
    public void AddFuture(Task task, Action<Task> callback)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(callback);
        task.ContinueWith(
            static (t, s) =>
            {
                var (loop, cb) = ((IOLoop, Action<Task>))s!;
                loop.AddCallback(() => cb(t));
            },
            (this, callback),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>
    /// Runs <paramref name="func"/> on <see cref="DefaultExecutor"/> (the thread pool unless set)
    /// and returns a task that completes on the loop thread with its result or exception, so an
    /// <c>await</c> of it resumes on the loop. Use it for blocking work that must stay off the
    /// loop thread. Thread-safe.
    /// </summary>
    public Task<T> RunInExecutor<T>(Func<T> func)
    {
        ArgumentNullException.ThrowIfNull(func);
        var completion = new TaskCompletionSource<T>();
        Task<T> work = Task.Factory.StartNew(func, CancellationToken.None, TaskCreationOptions.DenyChildAttach, _executor ?? TaskScheduler.Default);
        AddFuture(work, t =>
        {
            var finished = (Task<T>)t;
            if (finished.IsCompletedSuccessfully)
            {
                completion.SetResult(finished.Result); // Completed (checked above): no blocking.
            }
            else if (finished.IsCanceled)
            {
                completion.SetCanceled();
            }
            else
            {
                completion.SetException(finished.Exception!.InnerExceptions);
            }
        });
        return completion.Task;
    }

    /// <summary>Runs <paramref name="action"/> as <see cref="RunInExecutor{T}(Func{T})"/> does, for work with no result.</summary>
    public Task RunInExecutor(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        return RunInExecutor<bool>(() =>
        {
            action();
            return true;
        });
    }

    /// <summary>Queues a <see cref="SendOrPostCallback"/> (the synchronization context's path). Thread-safe.</summary>
    internal void Post(SendOrPostCallback callback, object? state) => Enqueue(callback, state);

    private void Enqueue(object callback, object? state)
    {
        if (ReferenceEquals(_thread, Thread.CurrentThread))
        {
            _local.Enqueue(callback, state);
            return;
        }

        lock (_remoteLock)
        {
            if (_closed)
            {
                return;
            }

            if (_remote.Enqueue(callback, state))
            {
                _waker.Wake();
            }
        }
    }

    /// <summary>Wakes the poller from any thread unless the loop is closed.</summary>
    private void Wake()
    {
        lock (_remoteLock)
        {
            if (!_closed)
            {
                _waker.Wake();
            }
        }
    }

    /// <summary>
    /// Runs the callbacks queued when the iteration began; after a budgeted tick that stopped
    /// part way, the rest of its callbacks go first. Returns how many ran.
    /// </summary>
    private int RunCallbacks(ref Allowance allowance)
    {
        if (_remoteRunning.Count == 0 && _localRunning.Count == 0)
        {
            TakeQueuedCallbacks();
            int all = RunBatch(ref _remoteRunning, ref _remoteCursor, _remoteRunning.Count, ref allowance, 0);
            return RunBatch(ref _localRunning, ref _localCursor, _localRunning.Count, ref allowance, all);
        }

        // Left over by the last tick: those first. Then, if the budget lasts, the callbacks that
        // were queued when this tick began, but not the ones the left-overs queue now: those
        // stay in the running queues, behind, as left-overs for the next tick.
        int queuedRemote;
        lock (_remoteLock)
        {
            queuedRemote = _remote.Count;
        }

        int queuedLocal = _local.Count;
        int ran = RunBatch(ref _remoteRunning, ref _remoteCursor, _remoteRunning.Count, ref allowance, 0);
        ran = RunBatch(ref _localRunning, ref _localCursor, _localRunning.Count, ref allowance, ran);
        if (_remoteRunning.Count > 0 || _localRunning.Count > 0 || !allowance.AllowsCallback(ran))
        {
            return ran;
        }

        TakeQueuedCallbacks();
        ran = RunBatch(ref _remoteRunning, ref _remoteCursor, queuedRemote, ref allowance, ran);
        return RunBatch(ref _localRunning, ref _localCursor, queuedLocal, ref allowance, ran);
    }

    /// <summary>Swaps both queues into their (empty) running twins.</summary>
    private void TakeQueuedCallbacks()
    {
        lock (_remoteLock)
        {
            if (_remote.Count > 0)
            {
                _remote.SwapWithEmpty(ref _remoteRunning);
            }
        }

        if (_local.Count > 0)
        {
            _local.SwapWithEmpty(ref _localRunning);
        }
    }

    /// <summary>
    /// Runs a batch from its cursor up to <paramref name="end"/> while the allowance lasts;
    /// returns <paramref name="ranBefore"/> plus how many ran. A batch run to its last entry is
    /// emptied.
    /// </summary>
    private int RunBatch(ref CallbackQueue batch, ref int cursor, int end, ref Allowance allowance, int ranBefore)
    {
        int ran = ranBefore;
        while (cursor < end && allowance.AllowsCallback(ran))
        {
            batch.Take(cursor, out object callback, out object? state);
            cursor++;
            allowance.TookCallback();
            InvokeCallback(callback, state);
            ran++;
        }

        _callbacksRun += ran - ranBefore;
        if (cursor == batch.Count)
        {
            batch.ResetAfterTakingAll();
            cursor = 0;
        }

        return ran;
    }

    private void InvokeCallback(object callback, object? state)
    {
        try
        {
            switch (callback)
            {
                case Action<object?> withState:
                    withState(state);
                    break;
                case Action action:
                    action();
                    break;
                case SendOrPostCallback posted:
                    posted(state);
                    break;
                case Func<Task> async:
                    Observe(async());
                    break;
            }
        }
        catch (Exception e)
        {
            CoreLog.CallbackFailed(_logger, e);
        }
    }

    private void Observe(Task task)
    {
        if (task.IsCompleted)
        {
            LogIfFaulted(task);
            return;
        }

        task.ContinueWith(
            static (t, s) => ((IOLoop)s!).LogIfFaulted(t),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void LogIfFaulted(Task task)
    {
        if (task.IsFaulted)
        {
            Exception error = task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException! : task.Exception;
            CoreLog.CallbackTaskFaulted(_logger, error);
        }
    }

    internal void LogPeriodicFailure(Exception error) => CoreLog.PeriodicCallbackFailed(_logger, error);
}
