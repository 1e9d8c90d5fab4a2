using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// Timers per second, after libuv's benchmark-million-timers: schedule 200,000 timers with
/// random 0–10 ms deadlines and run the loop until all have fired. Results read per timer.
/// </summary>
/// <remarks>
/// Not sealed: BenchmarkDotNet runs a generated subclass. An operation cannot finish before its
/// latest deadline, so up to 10 ms of each operation (50 ns per timer) is the clock, not the
/// heap; the loop keeps firing due timers meanwhile, so in practice little of it is idle.
/// </remarks>
[MemoryDiagnoser]
public class TimerBenchmarks
{
    private const int Count = 200_000;

    private static readonly Action<object?> s_fired = static s => ((TimerBenchmarks)s!).OnFired();

    private IOLoop _loop = null!;
    private TimeSpan[] _delays = null!;
    private TimeoutHandle[] _handles = null!;
    private int _fired;
    private int _expected;

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop();

        // A fixed seed: every run schedules the same deadlines in the same order.
        var random = new Random(12345);
        _delays = new TimeSpan[Count];
        for (int i = 0; i < Count; i++)
        {
            _delays[i] = TimeSpan.FromTicks(random.NextInt64(0, TimeSpan.TicksPerMillisecond * 10 + 1));
        }

        _handles = new TimeoutHandle[Count];
    }

    [GlobalCleanup]
    public void Cleanup() => _loop.Close();

    /// <summary>
    /// Scheduled from the owning thread while the loop is not running (as RunSync schedules its
    /// timeout), then fired by <see cref="IOLoop.Start"/>.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int ScheduleAndFire()
    {
        _fired = 0;
        _expected = Count;
        IOLoop loop = _loop;
        TimeSpan[] delays = _delays;
        for (int i = 0; i < delays.Length; i++)
        {
            loop.CallLater(delays[i], s_fired, this);
        }

        loop.Start();
        return _fired;
    }

    /// <summary>
    /// Half of the timers (every other one) are removed before the loop runs: O(1) lazy
    /// cancellation, the cancelled entries dropped as they reach the top of the heap, or all at
    /// once when they come to outnumber the live ones (compaction).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int ScheduleRemoveHalfAndFire()
    {
        _fired = 0;
        _expected = Count / 2;
        IOLoop loop = _loop;
        TimeSpan[] delays = _delays;
        TimeoutHandle[] handles = _handles;
        for (int i = 0; i < delays.Length; i++)
        {
            handles[i] = loop.CallLater(delays[i], s_fired, this);
        }

        for (int i = 0; i < handles.Length; i += 2)
        {
            loop.RemoveTimeout(handles[i]);
        }

        loop.Start();
        return _fired;
    }

    private void OnFired()
    {
        if (++_fired == _expected)
        {
            _loop.Stop();
        }
    }
}
