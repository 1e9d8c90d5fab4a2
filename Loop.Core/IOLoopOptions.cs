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

    /// <summary>Make the new loop <see cref="IOLoop.Current"/> for the constructing thread.</summary>
    public bool MakeCurrent { get; init; }

    /// <summary>
    /// Use the self-pipe waker even where eventfd exists, so tests on Linux cover the waker
    /// that macOS and the BSDs use.
    /// </summary>
    internal bool ForcePipeWaker { get; init; }
}
