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
    private TaskScheduler? _executor;

    /// <summary>Callbacks waiting for the next iteration. Exact on the loop thread; a snapshot elsewhere.</summary>
    public int PendingCallbackCount
    {
        get
        {
            lock (_remoteLock)
            {
                return _local.Count + _remote.Count;
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
        if (Environment.CurrentManagedThreadId == _threadId)
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

    /// <summary>Runs the callbacks queued when the iteration began; returns how many ran.</summary>
    private int RunCallbacks()
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

        // Cross-thread callbacks first: ones added before the loop started were queued there by
        // the owning thread, so this keeps that thread's callbacks in order.
        return RunBatch(ref _remoteRunning) + RunBatch(ref _localRunning);
    }

    private int RunBatch(ref CallbackQueue batch)
    {
        int count = batch.Count;
        for (int i = 0; i < count; i++)
        {
            batch.Take(i, out object callback, out object? state);
            InvokeCallback(callback, state);
        }

        batch.ResetAfterTakingAll();
        return count;
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
