using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// Timers per second, after libuv's benchmark-million-timers: schedule 200,000 timers with
/// random 0–10 ms deadlines and run the loop until all have fired. Results read per timer.
/// </summary>
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

    [Params(PollerBackend.Epoll)]
    public PollerBackend Backend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop(new IOLoopOptions { Backend = Backend });
        var random = new Random(12345);
        _delays = new TimeSpan[Count];
        for (int i = 0; i < Count; i++)
        {
            _delays[i] = TimeSpan.FromTicks(random.NextInt64(0, TimeSpan.TicksPerMillisecond * 10));
        }

        _handles = new TimeoutHandle[Count];
    }

    [GlobalCleanup]
    public void Cleanup() => _loop.Close();

    [Benchmark(OperationsPerInvoke = Count)]
    public int ScheduleAndFire()
    {
        _fired = 0;
        _expected = Count;
        for (int i = 0; i < Count; i++)
        {
            _loop.CallLater(_delays[i], s_fired, this);
        }

        _loop.Start();
        return _fired;
    }

    /// <summary>Half of the timers are removed before they fire (lazy cancellation and compaction).</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int ScheduleRemoveHalfAndFire()
    {
        _fired = 0;
        _expected = Count / 2;
        for (int i = 0; i < Count; i++)
        {
            _handles[i] = _loop.CallLater(_delays[i], s_fired, this);
        }

        for (int i = 0; i < Count; i += 2)
        {
            _loop.RemoveTimeout(_handles[i]);
        }

        _loop.Start();
        Array.Clear(_handles);
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
