using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// Callbacks per second, after libuv's benchmark-loop-count: queue 1,000,000 callbacks with
/// state, then drain them. Results read per callback (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
public class CallbackBenchmarks
{
    private const int Count = 1_000_000;

    private static readonly Action<object?> s_count = static s => ((Counter)s!).Value++;

    private readonly Counter _counter = new();
    private IOLoop _loop = null!;
    private Action<object?> _addAll = null!;

    [Params(PollerBackend.Epoll)]
    public PollerBackend Backend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop(new IOLoopOptions { Backend = Backend });
        _addAll = _ =>
        {
            for (int i = 0; i < Count; i++)
            {
                _loop.AddCallback(s_count, _counter);
            }
        };
    }

    [GlobalCleanup]
    public void Cleanup() => _loop.Close();

    /// <summary>Added on the loop thread while it runs (the lock-free path), drained by the next iteration.</summary>
    [Benchmark(OperationsPerInvoke = Count, Baseline = true)]
    public int AddOnLoopThreadThenDrain()
    {
        _counter.Value = 0;
        _loop.AddCallback(_addAll, null);
        _loop.RunOnce(TimeSpan.Zero);
        _loop.RunOnce(TimeSpan.Zero);
        return _counter.Value;
    }

    /// <summary>Added while the loop is not running (the locked cross-thread queue), then drained.</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int AddFromOutsideThenDrain()
    {
        _counter.Value = 0;
        for (int i = 0; i < Count; i++)
        {
            _loop.AddCallback(s_count, _counter);
        }

        _loop.RunOnce(TimeSpan.Zero);
        return _counter.Value;
    }

    private sealed class Counter
    {
        public int Value;
    }
}
