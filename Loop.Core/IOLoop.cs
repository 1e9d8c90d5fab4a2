using System.Diagnostics.CodeAnalysis;
using Loop.Callbacks;
using Loop.Polling;
using Loop.Timers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loop;

/// <summary>
/// A single-threaded event loop in the shape of Tornado's IOLoop: descriptor handlers on epoll,
/// kqueue or poll (on Windows: socket handlers on IOCP), timers, and a callback queue.
/// </summary>
/// <remarks>
/// <para>
/// One thread runs a loop at a time, through <see cref="Start"/>, <see cref="RunOnce(TimeSpan)"/> or
/// <see cref="RunSync(Func{Task}, TimeSpan?)"/>, and everything that touches its handlers and
/// timers must run on that thread. A host that ticks the loop with <c>RunOnce</c> owns it
/// between ticks too (see <see cref="AttachCurrentThread"/>). The thread-safe entry points are
/// <see cref="AddCallback(Action)"/> and its overloads, <see cref="SpawnCallback"/>,
/// <see cref="Stop"/> and the loop's <see cref="SynchronizationContext"/>; use them to hand work
/// to the loop from elsewhere.
/// </para>
/// <para>
/// One iteration runs the callbacks that were queued when it began (callbacks they add wait for
/// the next iteration, so I/O is never starved), then the timers that are due (all of them are
/// collected before any runs), then waits for I/O and calls the handlers of ready descriptors.
/// While a loop runs it is its thread's <see cref="SynchronizationContext"/>, so an
/// <c>await</c> on the loop thread resumes on the loop thread.
/// </para>
/// <para>
/// An exception thrown by a callback, a timer or a handler is logged (event id 1 or 2) and the
/// loop goes on. An error from the kernel poller itself stops the loop and escapes from
/// <see cref="Start"/>.
/// </para>
/// </remarks>
public sealed partial class IOLoop : IDisposable, IAsyncDisposable
{
    private const ulong WakerToken = ulong.MaxValue;

    [ThreadStatic]
    private static IOLoop? t_current;

    private static readonly IOLoopOptions s_defaultOptions = new();

    private readonly IPoller _poller;
    private readonly IWaker _waker;
    private readonly ILogger _logger;
    private readonly PollerEvent[] _events;
    private readonly IOLoopSynchronizationContext _syncContext;

    // Written only under _remoteLock; read without it where a stale value is harmless.
    private volatile bool _closed;
    private volatile bool _stopRequested;
    private bool _running;

    // The thread that runs the loop, or that owns it between ticks (see IOLoop.Thread.cs); null
    // when neither. Only that thread may use the unsynchronized local callback queue.
    private Thread? _thread;

    // The clock as read for the current phase of the iteration (IterationTime), and how often it was read.
    private long _iterationTimestamp;
    private long _iterationCount;

    private IOLoop? _savedCurrent;
    private SynchronizationContext? _savedContext;

    /// <summary>
    /// The name of the loops' <see cref="System.Diagnostics.Metrics.Meter"/>: <c>Loop.IOLoop</c>,
    /// with <c>loop.callbacks</c>, <c>loop.handler.dispatches</c>, <c>loop.timers.fired</c>
    /// (counters, summed over every loop in the process) and <c>loop.iteration.duration</c>
    /// (seconds one iteration spent running callbacks, timers and handlers, the wait for I/O left
    /// out). Reported once per iteration while someone listens; nothing is done or allocated
    /// for it otherwise.
    /// </summary>
    public const string MeterName = "Loop.IOLoop";

    /// <summary>Creates a loop on the best poller for this OS. It is not made current.</summary>
    public IOLoop()
        : this(null)
    {
    }

    /// <summary>Creates a loop as <paramref name="options"/> say (null: the defaults).</summary>
    /// <exception cref="PlatformNotSupportedException">The requested backend does not exist on this OS.</exception>
    /// <exception cref="System.ComponentModel.Win32Exception">The kernel refused to create the poller or waker.</exception>
    public IOLoop(IOLoopOptions? options)
    {
        options ??= s_defaultOptions;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.EventBufferSize, 1, nameof(options));
        LoggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger("Loop.IOLoop");
        _executor = options.Executor;
        _attachOnFirstTick = options.AttachOnFirstTick;
        _events = new PollerEvent[options.EventBufferSize];
        _poller = CreatePoller(options.Backend, options.EventBufferSize);
        try
        {
            _waker = CreateWaker(_poller, options.ForcePipeWaker);
        }
        catch
        {
            _poller.Dispose();
            throw;
        }

        _syncContext = new IOLoopSynchronizationContext(this);
        if (options.MakeCurrent)
        {
            MakeCurrent();
        }
    }

    /// <summary>
    /// The loop of the calling thread: the one running on it, or the one made current with
    /// <see cref="MakeCurrent"/>. If there is none (or it was closed), a new loop is created and
    /// made current, as Tornado's <c>IOLoop.current()</c> does.
    /// </summary>
    public static IOLoop Current
    {
        get
        {
            IOLoop? loop = t_current;
            if (loop is null || loop._closed)
            {
                loop = new IOLoop();
                t_current = loop;
            }

            return loop;
        }
    }

    /// <summary>
    /// Where this loop and everything built on it (streams, clients) log: the factory given in
    /// <see cref="IOLoopOptions.LoggerFactory"/>, or one that discards everything.
    /// </summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The kernel facility this loop waits on.</summary>
    public PollerBackend Backend => _poller.Backend;

    /// <summary>
    /// A descriptor that becomes readable whenever this loop has I/O to handle or was woken by
    /// another thread (the epoll or kqueue descriptor), or -1 for the poll backend and on Windows
    /// (an I/O completion port is not something a host's poller can watch). A Unix host that
    /// runs the loop with <see cref="RunOnce(TimeSpan)"/> can sleep on it in its own poller, for at most
    /// <see cref="BackendTimeout"/> (libuv's <c>uv_backend_fd</c>); where it is -1, the host
    /// lets <see cref="RunOnce(TimeSpan)"/> do the waiting, for at most <see cref="BackendTimeout"/>.
    /// </summary>
    public int BackendFileDescriptor => _poller.BackendFileDescriptor;

    /// <summary>The descriptors the loop itself owns: the poller's (if any) and the waker's.</summary>
    internal IEnumerable<int> OwnFileDescriptors =>
        new[] { _poller.BackendFileDescriptor, _waker.ReadFileDescriptor, _waker.WriteFileDescriptor }.Where(fd => fd >= 0).Distinct();

    /// <summary>True while <see cref="Start"/>, <see cref="RunOnce(TimeSpan)"/> or <see cref="RunSync(Func{Task}, TimeSpan?)"/> is running this loop.</summary>
    public bool IsRunning => _running;

    /// <summary>True once <see cref="Close"/> has run.</summary>
    public bool IsClosed => _closed;

    /// <summary>The context that posts to this loop. It is the loop thread's current context while the loop runs.</summary>
    public SynchronizationContext SynchronizationContext => _syncContext;

    /// <summary>
    /// True if the calling thread is the loop's thread: the one running it right now, or the
    /// host thread that ticks it with <see cref="RunOnce(TimeSpan)"/> (or attached it with
    /// <see cref="AttachCurrentThread"/>), between its ticks as well. Code for which this is
    /// true may use the loop-thread-only members.
    /// </summary>
    public bool IsOnLoopThread => ReferenceEquals(Volatile.Read(ref _thread), Thread.CurrentThread);

    /// <summary>Returns the calling thread's current loop without creating one.</summary>
    public static bool TryGetCurrent([NotNullWhen(true)] out IOLoop? loop)
    {
        loop = t_current;
        if (loop is not null && loop._closed)
        {
            loop = null;
        }

        return loop is not null;
    }

    /// <summary>Forgets the calling thread's current loop (it is not closed).</summary>
    public static void ClearCurrent() => t_current = null;

    /// <summary>Makes this loop <see cref="Current"/> for the calling thread.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        t_current = this;
    }

    /// <summary>
    /// The loop's clock in seconds: monotonic, so it never jumps when the wall clock is set. Use
    /// it for <see cref="CallAt(double, Action)"/> deadlines. Its zero point is arbitrary. It is
    /// the <see cref="System.Diagnostics.Stopwatch"/> clock counted in seconds (see <see cref="TimeOf"/>).
    /// </summary>
    public double Time() => MonotonicClock.ToSeconds(MonotonicClock.Now);

    /// <summary>
    /// The <see cref="Time"/> of a <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> reading,
    /// so that one reading of the clock can serve both a deadline on the loop's clock and a
    /// duration measured with <see cref="System.Diagnostics.Stopwatch.GetElapsedTime(long)"/>
    /// (a clock reading costs tens of nanoseconds, which counts on a path run per request).
    /// <c>TimeOf(Stopwatch.GetTimestamp())</c> is what <see cref="Time"/> would have returned then.
    /// </summary>
    /// <param name="stopwatchTimestamp">A value of <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>.</param>
    public static double TimeOf(long stopwatchTimestamp) => MonotonicClock.ToSeconds(stopwatchTimestamp);

    /// <summary>
    /// The <see cref="Time"/> clock (seconds) as read once by the loop for the current phase of
    /// its iteration, without a clock read of its own: hot paths that need "now" several times per
    /// event (deadlines, timings) can use it instead of <see cref="Time"/>. The loop refreshes it
    /// when a run (<see cref="Start"/>, <see cref="RunOnce(TimeSpan)"/>) begins, just before it runs due
    /// timers, and just after each wait for I/O returns, before any handler runs. So it is never
    /// later than <see cref="Time"/> and lags it by the time the loop has spent since the last
    /// refresh on the callbacks, timers and handlers of this iteration: microseconds on a busy
    /// loop, longer only if one of them blocks or computes for long. Use <see cref="Time"/> where
    /// that staleness matters. Before the loop has ever run it is 0. Loop thread only (another
    /// thread may see an older value).
    /// </summary>
    public double IterationTime => MonotonicClock.ToSeconds(_iterationTimestamp);

    /// <summary>
    /// Counts the refreshes of <see cref="IterationTime"/> (about two per loop iteration), from 0
    /// when the loop is created; it never wraps in practice. Two reads of the same count
    /// see the same <see cref="IterationTime"/>, so a caller can cache something computed from
    /// that time (a formatted date, a deadline) and recompute only when the count changes.
    /// Loop thread only.
    /// </summary>
    public long IterationCount => _iterationCount;

    /// <summary>
    /// Closes the loop: unregisters every handler, drops pending callbacks and timers, and
    /// releases the poller and waker. With <paramref name="allFds"/>, the registered descriptors
    /// are closed too (a registered <see cref="System.Net.Sockets.Socket"/> or
    /// <see cref="System.Runtime.InteropServices.SafeHandle"/> is disposed). Callbacks added from
    /// other threads afterwards are dropped silently. Calling it again does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The loop is running.</exception>
    public void Close(bool allFds = false)
    {
        if (_running)
        {
            throw new InvalidOperationException("An IOLoop cannot be closed while it is running; stop it first.");
        }

        lock (_remoteLock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _remote.Reset();
            _remoteRunning.Reset();
            if (_waker.ReadFileDescriptor >= 0)
            {
                _poller.Remove(_waker.ReadFileDescriptor);
            }

            // Wakes are written under this lock, so the waker cannot be written after it closes.
            _waker.Dispose();
        }

        CloseHandlers(allFds);
        _timers.Clear();
        _setAside.Clear();
        _local.Reset();
        _localRunning.Reset();
        _localCursor = 0;
        _remoteCursor = 0;
        _eventCursor = 0;
        _eventCount = 0;
        ReleaseThreadOnClose();
        _poller.Dispose();
        if (t_current == this)
        {
            t_current = null;
        }
    }

    /// <summary>Closes the loop without closing registered descriptors: <c>Close(allFds: false)</c>.</summary>
    public void Dispose() => Close(allFds: false);

    private static IPoller CreatePoller(PollerBackend backend, int capacity)
    {
        if (backend == PollerBackend.Auto)
        {
            backend = OperatingSystem.IsLinux() ? PollerBackend.Epoll
                : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() || OperatingSystem.IsIOS() ? PollerBackend.Kqueue
                : OperatingSystem.IsWindows() ? PollerBackend.Iocp
                : PollerBackend.Poll;
        }

        if (backend == PollerBackend.Iocp && OperatingSystem.IsWindows())
        {
            return new AfdPoller(capacity);
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException($"The {backend} poller is a Unix one; on Windows the loop uses {PollerBackend.Iocp}.");
        }

        if (backend == PollerBackend.Epoll && OperatingSystem.IsLinux())
        {
            return new EpollPoller(capacity);
        }

        if (backend == PollerBackend.Kqueue && (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() || OperatingSystem.IsIOS()))
        {
            return new KqueuePoller(capacity);
        }

        if (backend == PollerBackend.Poll)
        {
            return new PollPoller();
        }

        throw new PlatformNotSupportedException($"The {backend} poller is not available on this OS.");
    }

    /// <summary>
    /// The waker, registered with the poller under <see cref="WakerToken"/>: on Windows a
    /// completion posted to the poller's port, elsewhere an eventfd or a pipe whose read end is
    /// watched for reading.
    /// </summary>
    private static IWaker CreateWaker(IPoller poller, bool forcePipe)
    {
        if (OperatingSystem.IsWindows())
        {
            return ((AfdPoller)poller).CreateWaker(WakerToken);
        }

        IWaker waker = IWaker.Create(forcePipe);
        try
        {
            poller.Add(waker.ReadFileDescriptor, IOEvents.Read, WakerToken);
        }
        catch
        {
            waker.Dispose();
            throw;
        }

        return waker;
    }

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_closed, this);
}
