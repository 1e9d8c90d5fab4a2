namespace Loop;

public sealed partial class IOLoop
{
    // True while _thread keeps the loop between runs: it ticked the loop with RunOnce or
    // attached it. False while the loop is run by Start or RunSync alone (the thread lets go
    // when that run ends).
    private bool _ownedBetweenRuns;

    // IOLoopOptions.AttachOnFirstTick.
    private readonly bool _attachOnFirstTick;

    // AttachCurrentThread installed the loop's context and made it current on _thread; what
    // was there before, put back by DetachCurrentThread.
    private bool _attached;
    private SynchronizationContext? _attachSavedContext;
    private IOLoop? _attachSavedCurrent;

    /// <summary>
    /// Makes the calling thread this loop's host thread for good: <see cref="IsOnLoopThread"/>
    /// is true there between ticks as well, the loop becomes <see cref="Current"/>, and its
    /// <see cref="SynchronizationContext"/> is installed, so an <c>await</c> in the host's own
    /// code (a fetch, a timer, <see cref="RunInExecutor{T}(Func{T})"/>) resumes on this thread,
    /// in the callbacks phase of a later <see cref="RunOnce(TimeSpan)"/>, never on the thread
    /// pool. Call it once before the host's first tick. Calling it again on the same thread
    /// does nothing.
    /// </summary>
    /// <remarks>
    /// Ticking with <c>RunOnce</c> alone already makes the thread the loop's own between ticks
    /// (work the host hands the loop from it is queued without a lock or wake-up, and
    /// <c>RunOnce</c> from any other thread is refused), and on a plain thread (one whose
    /// <see cref="System.Threading.SynchronizationContext.Current"/> is null) the first tick
    /// attaches it as this method does. A thread with a context of its own (a UI or game
    /// engine's scheduler) keeps that one outside the ticks, so its awaits resume through its
    /// own scheduler, until it calls this method. Undo with <see cref="DetachCurrentThread"/>;
    /// <see cref="Close"/> on this thread undoes it too.
    /// </remarks>
    /// <exception cref="InvalidOperationException">Another live thread owns or runs the loop, the loop is running, or the calling thread is a thread-pool thread.</exception>
    /// <exception cref="ObjectDisposedException">The loop is closed.</exception>
    public void AttachCurrentThread()
    {
        ThrowIfClosed();
        if (_attached && IsOnLoopThread)
        {
            return;
        }

        if (_running)
        {
            throw new InvalidOperationException("AttachCurrentThread must be called between runs of the IOLoop, not while it runs.");
        }

        if (Thread.CurrentThread.IsThreadPoolThread)
        {
            throw new InvalidOperationException("AttachCurrentThread needs a thread of the host's own: a thread-pool thread goes back to the pool and runs other work between ticks.");
        }

        ClaimThread(keepBetweenRuns: true);
        InstallOnThread();
    }

    /// <summary>
    /// Hands the loop back: the calling thread stops owning it between ticks, the
    /// synchronization context and current loop that <see cref="AttachCurrentThread"/> replaced
    /// are put back, and another thread may run the loop. Callbacks still queued stay queued
    /// for whichever thread runs it next. Does nothing on a thread that does not own the loop.
    /// </summary>
    /// <exception cref="InvalidOperationException">The loop is running.</exception>
    public void DetachCurrentThread()
    {
        if (!IsOnLoopThread)
        {
            return;
        }

        if (_running)
        {
            throw new InvalidOperationException("DetachCurrentThread cannot be called while the IOLoop is running.");
        }

        RestoreAttachedThread();
        _ownedBetweenRuns = false;
        lock (_remoteLock)
        {
            Volatile.Write(ref _thread, null);
            MoveLocalCallbacksToShared();
        }
    }

    /// <summary>
    /// Makes the calling thread the one that runs the loop, or checks that it already is.
    /// With <paramref name="keepBetweenRuns"/> (RunOnce, AttachCurrentThread) the thread keeps
    /// the loop after the run. A thread that owned the loop and ended without letting go is
    /// taken over from.
    /// </summary>
    private void ClaimThread(bool keepBetweenRuns)
    {
        Thread current = Thread.CurrentThread;
        Thread? owner = _thread;
        if (!ReferenceEquals(owner, current))
        {
            ThrowIfOwnedElsewhere();

            // The lock orders this with what the previous owner (if it ended holding the loop)
            // queued locally, which the new owner now runs.
            lock (_remoteLock)
            {
                _ownedBetweenRuns = false;
                _attached = false;
                Volatile.Write(ref _thread, current);
            }
        }

        // A thread-pool thread is nobody's host thread: an async host loop ticks from whichever
        // pool thread its awaits resume on, and the pool gives the thread to other work between.
        if (keepBetweenRuns && !_ownedBetweenRuns && !current.IsThreadPoolThread)
        {
            _ownedBetweenRuns = true;

            // A plain thread (no scheduler of its own) is attached by its first tick; one with
            // a context of its own keeps it until the host attaches explicitly.
            if (_attachOnFirstTick && SynchronizationContext.Current is null)
            {
                InstallOnThread();
            }
        }
    }

    /// <summary>Installs the loop's context on the owning thread and makes the loop current there, remembering what was there.</summary>
    private void InstallOnThread()
    {
        if (_attached)
        {
            return;
        }

        _attached = true;
        _attachSavedContext = SynchronizationContext.Current;
        _attachSavedCurrent = t_current;
        SynchronizationContext.SetSynchronizationContext(_syncContext);
        t_current = this;
    }

    /// <summary>Throws if a live thread other than the calling one runs the loop or owns it between ticks.</summary>
    private void ThrowIfOwnedElsewhere()
    {
        Thread current = Thread.CurrentThread;
        Thread? owner = _thread;
        if (owner is not null && !ReferenceEquals(owner, current) && owner.IsAlive)
        {
            throw new InvalidOperationException(
                $"This IOLoop belongs to thread {Describe(owner)}, which {(_running ? "is running it" : "ticks it with RunOnce")}; it cannot be run from thread {Describe(current)} too. "
                + "A loop is driven by one thread: call DetachCurrentThread() on the owning thread to hand it over.");
        }
    }

    /// <summary>At the end of a run: a thread that does not keep the loop lets it go.</summary>
    private void ReleaseThreadAfterRun()
    {
        if (_ownedBetweenRuns)
        {
            return;
        }

        lock (_remoteLock)
        {
            Volatile.Write(ref _thread, null);

            // Callbacks this thread queued locally that did not run yet must stay visible to
            // whichever thread runs the loop next.
            MoveLocalCallbacksToShared();
        }
    }

    private void ReleaseThreadOnClose()
    {
        if (IsOnLoopThread)
        {
            RestoreAttachedThread();
        }

        _attached = false;
        _ownedBetweenRuns = false;
        Volatile.Write(ref _thread, null);
    }

    private void RestoreAttachedThread()
    {
        if (!_attached)
        {
            return;
        }

        _attached = false;
        if (ReferenceEquals(SynchronizationContext.Current, _syncContext))
        {
            SynchronizationContext.SetSynchronizationContext(_attachSavedContext);
        }

        if (ReferenceEquals(t_current, this))
        {
            t_current = _attachSavedCurrent;
        }

        _attachSavedContext = null;
        _attachSavedCurrent = null;
    }

    /// <summary>Moves the local queue's callbacks behind the shared queue's. Under <c>_remoteLock</c>.</summary>
    private void MoveLocalCallbacksToShared()
    {
        if (_local.Count == 0)
        {
            return;
        }

        if (_remote.Count == 0)
        {
            // The common case: hand the whole queue over.
            _local.SwapWithEmpty(ref _remote);
            return;
        }

        for (int i = 0; i < _local.Count; i++)
        {
            _local.Take(i, out object callback, out object? state);
            _remote.Enqueue(callback, state);
        }

        _local.ResetAfterTakingAll();
    }

    private static string Describe(Thread thread) =>
        thread.Name is { Length: > 0 } name ? $"{thread.ManagedThreadId} ('{name}')" : thread.ManagedThreadId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
