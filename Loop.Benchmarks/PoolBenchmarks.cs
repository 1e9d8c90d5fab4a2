using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.ObjectPool;

namespace Loop.Benchmarks;

/// <summary>
/// What the clients' pooled objects (fetch states, curl easy handles and transfers, body
/// buffers) cost to rent and return: the hand-written pools, a <see cref="Stack{T}"/> touched
/// only on the loop thread, against Microsoft.Extensions.ObjectPool's
/// <see cref="DefaultObjectPool{T}"/> (thread-safe, interlocked) as the clients would use it.
/// One operation is 64 rents and 64 returns (a burst of fetches starting, then ending).
/// </summary>
[MemoryDiagnoser]
public class PoolBenchmarks
{
    private const int Burst = 64;

    private readonly Stack<Pooled> _stack = new();
    private readonly Pooled[] _rented = new Pooled[Burst];
    private ObjectPool<Pooled> _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new DefaultObjectPool<Pooled>(new PooledPolicy(), 1024);
        for (int i = 0; i < Burst; i++)
        {
            _rented[i] = _pool.Get();
        }

        for (int i = 0; i < Burst; i++)
        {
            _pool.Return(_rented[i]);
            _stack.Push(new Pooled());
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Burst)]
    public void HandWrittenStack()
    {
        for (int i = 0; i < Burst; i++)
        {
            _rented[i] = _stack.TryPop(out Pooled? item) ? item : new Pooled();
        }

        for (int i = 0; i < Burst; i++)
        {
            Pooled item = _rented[i];
            item.Reset();
            if (_stack.Count < 1024)
            {
                _stack.Push(item);
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Burst)]
    public void ExtensionsObjectPool()
    {
        for (int i = 0; i < Burst; i++)
        {
            _rented[i] = _pool.Get();
        }

        for (int i = 0; i < Burst; i++)
        {
            _pool.Return(_rented[i]);
        }
    }

    public sealed class Pooled
    {
        public int Uses;

        public void Reset() => Uses++;
    }

    private sealed class PooledPolicy : PooledObjectPolicy<Pooled>
    {
        public override Pooled Create() => new();

        public override bool Return(Pooled obj)
        {
            obj.Reset();
            return true;
        }
    }
}
