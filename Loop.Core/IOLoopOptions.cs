using Microsoft.Extensions.Logging;

namespace Loop;

/// <summary>How an <see cref="IOLoop"/> is built. Every property has a usable default.</summary>
public sealed class IOLoopOptions
{
    /// <summary>The kernel facility to wait on. <see cref="PollerBackend.Auto"/> picks the best for the OS.</summary>
    public PollerBackend Backend { get; init; } = PollerBackend.Auto;

    /// <summary>Where exceptions from callbacks and handlers are logged. Null logs nothing.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// How many readiness events one wait can return. More ready descriptors than this are
    /// reported on the next iteration. The default is 1024 (32 in debug builds, so tests cover
    /// the full-buffer path).
    /// </summary>
    public int EventBufferSize { get; init; } =
#if DEBUG
        32;
#else
        1024;
#endif

    /// <summary>Where <see cref="IOLoop.RunInExecutor{T}(Func{T})"/> runs work. Null means the thread pool.</summary>
    public TaskScheduler? Executor { get; init; }

    /// <summary>
    /// Whether the first <see cref="IOLoop.RunOnce(TimeSpan)"/> on a plain host thread (one with
    /// no <see cref="SynchronizationContext"/> of its own, not a thread-pool thread) attaches
    /// it, as <see cref="IOLoop.AttachCurrentThread"/> does, so that awaits in the host's code
    /// resume on it. Default true. Set it to false for a host that drives the loop from code
    /// which itself awaits between ticks (an async main loop): there an installed loop context
    /// would send the tick loop's own continuation to the loop it is waiting to tick.
    /// </summary>
    public bool AttachOnFirstTick { get; init; } = true;

    /// <summary>Make the new loop <see cref="IOLoop.Current"/> for the constructing thread.</summary>
    public bool MakeCurrent { get; init; }

    /// <summary>
    /// Use the self-pipe waker even where eventfd exists, so tests on Linux cover the waker
    /// that macOS and the BSDs use.
    /// </summary>
    internal bool ForcePipeWaker { get; init; }
}
