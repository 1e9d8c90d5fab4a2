using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// Callbacks per second, after libuv's benchmark-loop-count: queue 1,000,000 callbacks, then
/// drain them. Results read per callback (OperationsPerInvoke).
/// </summary>
/// <remarks>
/// Not sealed: BenchmarkDotNet runs a generated subclass. The callbacks are static delegates
/// with a preallocated state object, so what is measured is the queue and the dispatch, not
/// closures. The backend is left at its default: an operation polls the kernel once or twice
/// with a zero timeout, which is noise spread over a million callbacks.
/// </remarks>
[MemoryDiagnoser]
public class CallbackBenchmarks
{
    private const int Count = 1_000_000;

    private static readonly Action<object?> s_count = static s => ((Counter)s!).Value++;
    private static readonly Action<object?> s_stop = static s => ((IOLoop)s!).Stop();
    private static readonly Action<object?> s_addWithState = static s => ((CallbackBenchmarks)s!).AddWithState();
    private static readonly Action<object?> s_addActions = static s => ((CallbackBenchmarks)s!).AddActions();

    // The stateless overload has nowhere to put a counter but a static.
    private static readonly Action s_countStatic = static () => s_staticCount++;
    private static int s_staticCount;

    private readonly Counter _counter = new();
    private IOLoop _loop = null!;

    [GlobalSetup]
    public void Setup() => _loop = new IOLoop();

    [GlobalCleanup]
    public void Cleanup() => _loop.Close();

    /// <summary>
    /// The loop-thread path: a callback running on the loop adds a million more (to the
    /// unsynchronized local queue), then one that stops the loop; the next iteration runs them.
    /// </summary>
    /// <remarks>
    /// Start/Stop rather than two RunOnce calls: when RunOnce returns, callbacks still in the
    /// local queue are moved to the locked cross-thread queue (EndRun), which would add a copy
    /// of every entry to what this measures. <see cref="AddInRunOnceThenRunOnce"/> measures that.
    /// </remarks>
    [Benchmark(OperationsPerInvoke = Count, Baseline = true)]
    public int AddWithStateOnLoopThread()
    {
        _counter.Value = 0;
        _loop.AddCallback(s_addWithState, this);
        _loop.Start();
        return _counter.Value;
    }

    /// <summary>The same through the stateless <see cref="IOLoop.AddCallback(Action)"/> overload.</summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int AddActionOnLoopThread()
    {
        s_staticCount = 0;
        _loop.AddCallback(s_addActions, this);
        _loop.Start();
        return s_staticCount;
    }

    /// <summary>
    /// The embedding path as a host would drive it: added from a RunOnce callback, run by the
    /// next RunOnce. Between the two, EndRun hands the million pending callbacks over to the
    /// cross-thread queue.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int AddInRunOnceThenRunOnce()
    {
        _counter.Value = 0;
        _loop.AddCallback(s_addWithState, this);
        _loop.RunOnce(TimeSpan.Zero);
        _loop.RunOnce(TimeSpan.Zero);
        return _counter.Value;
    }

    /// <summary>
    /// The cross-thread path: added while the loop is not running (a lock per callback, one
    /// wake for the batch), then drained by one RunOnce.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Count)]
    public int AddWhileNotRunningThenRunOnce()
    {
        _counter.Value = 0;
        for (int i = 0; i < Count; i++)
        {
            _loop.AddCallback(s_count, _counter);
        }

        _loop.RunOnce(TimeSpan.Zero);
        return _counter.Value;
    }

    private void AddWithState()
    {
        IOLoop loop = _loop;
        Counter counter = _counter;
        for (int i = 0; i < Count; i++)
        {
            loop.AddCallback(s_count, counter);
        }

        // Queued last, so it runs after the million. Under RunOnce the flag it sets is simply
        // cleared when RunOnce returns.
        loop.AddCallback(s_stop, loop);
    }

    private void AddActions()
    {
        IOLoop loop = _loop;
        for (int i = 0; i < Count; i++)
        {
            loop.AddCallback(s_countStatic);
        }

        loop.AddCallback(s_stop, loop);
    }

    private sealed class Counter
    {
        public int Value;
    }
}
