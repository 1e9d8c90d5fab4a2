using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Loop.Benchmarks.Suite;
using Loop.Curl;
using Loop.Http;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// A game server's main loop with an IOLoop embedded, written the way such a host is written:
/// one thread sleeps in its own epoll set, which holds a 60 Hz timerfd and the loop's
/// <see cref="IOLoop.BackendFileDescriptor"/>. When the timer fires the host reads how many
/// ticks fell due (more than one: ticks were lost), records how late the tick is, does its own
/// work (a busy loop) and then ticks the loop with <c>RunOnce(TimeSpan.Zero, budget)</c>; when
/// only the loop's descriptor is ready (or its <see cref="IOLoop.BackendTimeout"/> ran out, zero
/// while a bounded tick left work over) it ticks the loop alone. The host thread is attached to
/// the loop (<see cref="IOLoop.AttachCurrentThread"/>), and N workers started from it fetch the
/// same URL in a loop, each awaiting
/// <see cref="AsyncHttpClient.FetchAsync(HttpRequest, bool, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// The rounds take turns between the <see cref="HostMode"/>s (a slice per <c>RunOnce</c>, the
/// same clamped to the frame, unbounded) under the same continuous load: the workers keep fetching across rounds, and
/// each round starts with <see cref="Settle"/> of ticks that are not counted, so the backlog of
/// the previous mode does not count against the next. Linux only (timerfd, epoll).
/// </remarks>
internal sealed class EmbeddingHost : IDisposable
{
    /// <summary>Ticked but not counted at the start of each round, after the mode changed.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(0.5);

    private const ulong TimerToken = 1;
    private const ulong LoopToken = 2;
    private const int MaxEvents = 2;

    private readonly EmbedSettings _settings;
    private readonly string _url;
    private readonly IOLoop _loop;
    private readonly TickBudget _budget;
    private readonly AsyncHttpClient _client;
    private readonly int _epfd;
    private readonly int _timerfd;
    private readonly long _periodNs;
    private readonly long _firstTickNs;
    private readonly long _workTicks;
    private readonly int _hostThread = Environment.CurrentManagedThreadId;
    private readonly byte[] _events = GC.AllocateArray<byte>(MaxEvents * HostLibc.EpollEventSize, pinned: true);
    private readonly LatencyHistogram _lateness = new();
    private Task? _workers;
    private volatile bool _stop;

    // Since the timer started: the expirations read, which date the next one.
    private long _expirations;

    // The round's counters. The workers run on the host thread inside RunOnce; the few counters
    // they touch are still updated with Interlocked, so that a continuation that ran elsewhere
    // (which OffHostThread counts) cannot corrupt them.
    private long _ticks;
    private long _lost;
    private long _latenessMaxNs;
    private long _longestRunOnce;
    private TimeSpan _longestRunOnceGc;
    private long _longestRunOnceCpuNs;
    private long _mostRunOnceCpuNs;
    private long _runOnceCalls;
    private long _fetches;
    private long _bytes;
    private long _errors;
    private long _offHostThread;
    private string? _firstError;

    private unsafe EmbeddingHost(EmbedSettings settings)
    {
        _settings = settings;
        _url = settings.Url ?? throw new ArgumentException("No URL to fetch.", nameof(settings));
        _loop = new IOLoop();

        // The host's thread is the loop's from now on: the workers it starts run on it, and
        // every await in them resumes on it, at a later RunOnce.
        _loop.AttachCurrentThread();
        _budget = settings.Budget > TimeSpan.Zero ? TickBudget.FromTimeSlice(settings.Budget) : TickBudget.Unlimited;
        var clientSettings = new AsyncHttpClientSettings { MaxClients = settings.Concurrency };
        _client = settings.Client switch
        {
            "simple" => new SimpleAsyncHttpClient(_loop, clientSettings),
            "curl" => new CurlAsyncHttpClient(_loop, clientSettings),
            _ => throw new ArgumentException($"Unknown client '{settings.Client}': simple or curl.", nameof(settings)),
        };
        _workTicks = (long)(settings.Work.TotalSeconds * Stopwatch.Frequency);
        _periodNs = 1_000_000_000L / settings.Hz;
        _epfd = Check(HostLibc.epoll_create1(HostLibc.EpollCloexec), "epoll_create1");
        _timerfd = Check(HostLibc.timerfd_create(HostLibc.ClockMonotonic, HostLibc.TimerNonBlock | HostLibc.TimerCloexec), "timerfd_create");
        HostLibc.AddReadable(_epfd, _timerfd, TimerToken);
        HostLibc.AddReadable(_epfd, _loop.BackendFileDescriptor, LoopToken);

        // An absolute first expiry and a fixed period: tick k (from 1) is due at first + (k − 1) × period.
        _firstTickNs = HostLibc.MonotonicNanoseconds() + _periodNs;
        var spec = new HostLibc.TimerSpec { Interval = HostLibc.TimeSpec.FromNanoseconds(_periodNs), Value = HostLibc.TimeSpec.FromNanoseconds(_firstTickNs) };
        Check(HostLibc.timerfd_settime(_timerfd, HostLibc.TimerAbsolute, &spec, null), "timerfd_settime");
    }

    /// <summary>
    /// Runs the host for <paramref name="settings"/> on the calling thread: the warm-up, then
    /// <see cref="EmbedSettings.Repetitions"/> rounds of each mode, handing each round's figures
    /// to <paramref name="onRound"/> as soon as it ends; then stops the workers (each finishes its
    /// fetch) and closes everything it opened. Blocks for the whole run.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown client, or no URL.</exception>
    /// <exception cref="InvalidOperationException">A system call failed, or a worker threw.</exception>
    public static void Run(EmbedSettings settings, Action<EmbedMeasurement> onRound)
    {
        using var host = new EmbeddingHost(settings);
        host.StartWorkers();
        try
        {
            host.WarmUp();
            for (int repetition = 0; repetition < settings.Repetitions; repetition++)
            {
                foreach (HostMode mode in Modes(settings, repetition))
                {
                    onRound(host.Round(mode, repetition));
                }
            }
        }
        finally
        {
            host.StopWorkers();
        }
    }

    /// <summary>
    /// The modes of one repetition: <see cref="EmbedSettings.Modes"/>, rotated by one each
    /// repetition (A B C, B C A, …) so that a drift over the run favours none; unbounded alone
    /// without a budget.
    /// </summary>
    internal static HostMode[] Modes(EmbedSettings settings, int repetition)
    {
        HostMode[] modes = settings.Budget <= TimeSpan.Zero ? [HostMode.Unbounded] : [.. settings.Modes];
        int shift = repetition % modes.Length;
        return [.. modes[shift..], .. modes[..shift]];
    }

    public void Dispose()
    {
        _client.Close();
        _loop.Close(allFds: true);
        _ = HostLibc.close(_timerfd);
        _ = HostLibc.close(_epfd);
    }

    private void WarmUp()
    {
        if (_settings.Budget <= TimeSpan.Zero)
        {
            Drive(_settings.Warmup, HostMode.Unbounded);
            return;
        }

        Drive(_settings.Warmup / 2, HostMode.Unbounded);
        Drive(_settings.Warmup / 2, HostMode.Budget);
    }

    private EmbedMeasurement Round(HostMode mode, int repetition)
    {
        Drive(Settle, mode);
        ResetCounters();
        int gen0 = GC.CollectionCount(0);
        int gen1 = GC.CollectionCount(1);
        int gen2 = GC.CollectionCount(2);
        TimeSpan pauses = GC.GetTotalPauseDuration();
        long allocated = GC.GetTotalAllocatedBytes(precise: false);
        long started = Stopwatch.GetTimestamp();
        long switches = HostLibc.InvoluntarySwitches();
        Drive(_settings.Duration, mode);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        long fetches = Interlocked.Read(ref _fetches);
        return new EmbedMeasurement
        {
            Client = _settings.Client,
            Body = _settings.Body.ToString().ToLowerInvariant(),
            Mode = mode.ToString().ToLowerInvariant(),
            BudgetMs = mode == HostMode.Unbounded ? null : _settings.Budget.TotalMilliseconds,
            Repetition = repetition,
            Seconds = seconds,
            Ticks = _ticks,
            TicksLost = _lost,
            LatenessP50Ms = Milliseconds(_lateness.Percentile(50)),
            LatenessP99Ms = Milliseconds(_lateness.Percentile(99)),
            LatenessMaxMs = Milliseconds(_latenessMaxNs),
            LongestRunOnceMs = _longestRunOnce * 1000.0 / Stopwatch.Frequency,
            LongestRunOnceGcMs = _longestRunOnceGc.TotalMilliseconds,
            LongestRunOnceCpuMs = Milliseconds(_longestRunOnceCpuNs),
            MostRunOnceCpuMs = Milliseconds(_mostRunOnceCpuNs),
            RunOnceCalls = _runOnceCalls,
            Preempted = HostLibc.InvoluntarySwitches() - switches,
            Fetches = fetches,
            Bytes = Interlocked.Read(ref _bytes),
            Errors = Interlocked.Read(ref _errors),
            OffHostThread = Interlocked.Read(ref _offHostThread),
            Gen0 = GC.CollectionCount(0) - gen0,
            Gen1 = GC.CollectionCount(1) - gen1,
            Gen2 = GC.CollectionCount(2) - gen2,
            GcPauseMs = (GC.GetTotalPauseDuration() - pauses).TotalMilliseconds,
            BytesAllocatedPerFetch = (double)(GC.GetTotalAllocatedBytes(precise: false) - allocated) / Math.Max(1, fetches),
            FirstError = _firstError,
        };
    }

    private void ResetCounters()
    {
        _ticks = 0;
        _lost = 0;
        _latenessMaxNs = 0;
        _lateness.Reset();
        _longestRunOnce = 0;
        _longestRunOnceGc = TimeSpan.Zero;
        _longestRunOnceCpuNs = 0;
        _mostRunOnceCpuNs = 0;
        _runOnceCalls = 0;
        Interlocked.Exchange(ref _fetches, 0);
        Interlocked.Exchange(ref _bytes, 0);
        Interlocked.Exchange(ref _errors, 0);
        Interlocked.Exchange(ref _offHostThread, 0);
        _firstError = null;
    }

    /// <summary>The host's main loop for <paramref name="span"/>: sleep in epoll, tick when the timer says, tick the loop on every wake-up.</summary>
    private unsafe void Drive(TimeSpan span, HostMode mode)
    {
        long until = Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);
        byte* events = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_events));
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= until)
            {
                return;
            }

            // The timerfd is in the set, so the kernel wakes the host for its next tick; the
            // timeout only has to cover the loop's own deadlines (and the end of this span).
            int n = HostLibc.epoll_wait(_epfd, events, MaxEvents, WaitMilliseconds(until - now));
            if (n < 0)
            {
                int errno = HostLibc.LastErrno;
                if (errno == HostLibc.EINTR)
                {
                    continue;
                }

                throw new InvalidOperationException($"epoll_wait failed (errno {errno}).");
            }

            for (int i = 0; i < n; i++)
            {
                if (*(ulong*)(events + (i * HostLibc.EpollEventSize) + HostLibc.EpollDataOffset) == TimerToken && ReadExpirations() is > 0 and var due)
                {
                    Tick(due);
                }
            }

            // Whatever woke the host, the loop gets its turn: after the tick's own work, or
            // because its descriptor is ready, or because its next deadline has come.
            RunLoop(mode);
        }
    }

    private int WaitMilliseconds(long untilEnd)
    {
        long endMs = (long)Math.Ceiling(untilEnd * 1000.0 / Stopwatch.Frequency);
        TimeSpan loop = _loop.BackendTimeout;
        long loopMs = loop == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)Math.Ceiling(loop.TotalMilliseconds);
        return (int)Math.Min(int.MaxValue, Math.Min(endMs, loopMs));
    }

    private unsafe ulong ReadExpirations()
    {
        ulong count;
        if (HostLibc.read(_timerfd, &count, sizeof(ulong)) == sizeof(ulong))
        {
            return count;
        }

        int errno = HostLibc.LastErrno;
        return errno == HostLibc.EAGAIN ? 0UL : throw new InvalidOperationException($"read(timerfd) failed (errno {errno}).");
    }

    /// <summary>
    /// The game's tick: <paramref name="due"/> expirations read at once, one tick run. Its
    /// lateness is counted from the oldest of them, the tick the host should have run first: a
    /// host that lost ticks was late by as long as it was away, not by the last period alone.
    /// </summary>
    private void Tick(ulong due)
    {
        long nowNs = HostLibc.MonotonicNanoseconds();
        long lateNs = nowNs - (_firstTickNs + (_expirations * _periodNs));
        _expirations += (long)due;
        _ticks += (long)due;
        _lost += (long)due - 1;
        _lateness.Record(lateNs);
        _latenessMaxNs = Math.Max(_latenessMaxNs, lateNs);

        // The game's own work for this tick.
        long end = Stopwatch.GetTimestamp() + _workTicks;
        while (Stopwatch.GetTimestamp() < end)
        {
            Thread.SpinWait(1);
        }
    }

    private void RunLoop(HostMode mode)
    {
        TickBudget budget = TickBudget.Unlimited;
        if (mode == HostMode.Budget)
        {
            budget = _budget;
        }
        else if (mode == HostMode.Frame)
        {
            long untilTickNs = _firstTickNs + (_expirations * _periodNs) - HostLibc.MonotonicNanoseconds();
            if (untilTickNs <= 0)
            {
                // The tick is due: the timer wakes the host at once, and the tick goes first.
                return;
            }

            budget = TickBudget.FromTimeSlice(TimeSpan.FromTicks(Math.Min(_budget.TimeSlice!.Value.Ticks, untilTickNs / 100)));
        }

        // The wall-clock time is what the host waits; the thread's CPU time (a system call
        // each, under a microsecond) tells the loop's own work from time the core was taken.
        TimeSpan pauses = GC.GetTotalPauseDuration();
        long cpu = HostLibc.ThreadCpuNanoseconds();
        long started = Stopwatch.GetTimestamp();
        _loop.RunOnce(TimeSpan.Zero, budget);
        long took = Stopwatch.GetTimestamp() - started;
        long cpuNs = HostLibc.ThreadCpuNanoseconds() - cpu;
        _runOnceCalls++;
        _mostRunOnceCpuNs = Math.Max(_mostRunOnceCpuNs, cpuNs);
        if (took > _longestRunOnce)
        {
            _longestRunOnce = took;
            _longestRunOnceGc = GC.GetTotalPauseDuration() - pauses;
            _longestRunOnceCpuNs = cpuNs;
        }
    }

    /// <summary>Starts the workers from the host's own code, between ticks, as tick code would.</summary>
    private void StartWorkers()
    {
        var workers = new Task[_settings.Concurrency];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = WorkerAsync();
        }

        _workers = Task.WhenAll(workers);
    }

    private void StopWorkers()
    {
        _stop = true;
        var clock = Stopwatch.StartNew();
        while (!_workers!.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(1))
        {
            Drive(TimeSpan.FromMilliseconds(50), HostMode.Unbounded);
        }

        if (!_workers.IsCompleted)
        {
            throw new InvalidOperationException("The workers did not finish their last fetches within a minute.");
        }

        if (_workers.Exception is { } error)
        {
            throw new InvalidOperationException("A worker failed.", error.InnerException);
        }
    }

    private async Task WorkerAsync()
    {
        BodyMode body = _settings.Body;
        ArrayBufferWriter<byte>? writer = body == BodyMode.Writer ? new ArrayBufferWriter<byte>() : null;
        long streamed = 0;
        Action<ReadOnlyMemory<byte>>? onChunk = body == BodyMode.Stream ? chunk => streamed += chunk.Length : null;
        while (!_stop)
        {
            var request = new HttpRequest(_url);
            switch (body)
            {
                case BodyMode.Pooled:
                    request.PooledBody = true;
                    break;
                case BodyMode.Writer:
                    writer!.ResetWrittenCount();
                    request.BodyWriter = writer;
                    break;
                case BodyMode.Stream:
                    streamed = 0;
                    request.StreamingCallback = onChunk;
                    break;
            }

            // Disposing returns a pooled body's memory; for the other modes it does nothing.
            using HttpResponse response = await _client.FetchAsync(request, raiseError: false);
            if (Environment.CurrentManagedThreadId != _hostThread)
            {
                Interlocked.Increment(ref _offHostThread);
            }

            if (response.Code == 200)
            {
                long length = body switch
                {
                    BodyMode.Writer => writer!.WrittenCount,
                    BodyMode.Stream => streamed,
                    _ => response.BodyMemory.Length,
                };
                Interlocked.Increment(ref _fetches);
                Interlocked.Add(ref _bytes, length);
            }
            else
            {
                Interlocked.Increment(ref _errors);
                _firstError ??= response.Error is { } error ? $"{error.GetType().Name}: {error.Message}" : $"HTTP {response.Code}";
            }
        }
    }

    private static double Milliseconds(double nanoseconds) => nanoseconds / 1e6;

    private static int Check(int result, string call) =>
        result >= 0 ? result : throw new InvalidOperationException($"{call} failed (errno {HostLibc.LastErrno}).");
}
