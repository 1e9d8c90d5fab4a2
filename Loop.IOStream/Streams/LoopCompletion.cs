using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Loop.Streams;

/// <summary>
/// A reusable completion for one pending stream operation at a time, completed on the loop
/// thread. Continuations run inline where the result is set (inside the read or write handler),
/// including those registered by an <c>await</c> on the loop thread itself: posting them back to
/// the same loop would only add a queue hop. Any other context is honoured.
/// </summary>
/// <remarks>Each <see cref="ValueTask"/> handed out must be awaited once, as usual for value tasks.</remarks>
internal sealed class LoopCompletion<T> : IValueTaskSource<T>, IValueTaskSource
{
    private readonly SynchronizationContext _loopContext;
    private ManualResetValueTaskSourceCore<T> _core;
    private bool _outstanding;

    public LoopCompletion(IOLoop loop)
    {
        _loopContext = loop.SynchronizationContext;
        _core.RunContinuationsAsynchronously = false;
    }

    /// <summary>Set for pooled write completions: the stream offset at which this write is done.</summary>
    public long EndIndex { get; set; }

    /// <summary>Next in a free list or a queue.</summary>
    public LoopCompletion<T>? Next { get; set; }

    /// <summary>Called after the result was taken, for pooling.</summary>
    public Action<LoopCompletion<T>>? OnConsumed { get; set; }

    public ValueTask<T> Start()
    {
        _core.Reset();
        _outstanding = true;
        return new ValueTask<T>(this, _core.Version);
    }

    public ValueTask StartNonGeneric()
    {
        _core.Reset();
        _outstanding = true;
        return new ValueTask(this, _core.Version);
    }

    public void SetResult(T result) => _core.SetResult(result);

    public void SetException(Exception error) => _core.SetException(error);

    public T GetResult(short token)
    {
        // Only the first GetResult of a finished operation, asked with its own token, gives the
        // completion back: a misused value task (awaited twice, or read before it finished) must
        // not put it in the pool while it is still queued, or twice.
        bool consumed = _outstanding && token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (consumed)
            {
                // Forget the result (a byte array a read returned, a buffer) and the continuation,
                // so that an idle stream does not keep them alive until its next operation.
                _core.Reset();
                _outstanding = false;
                OnConsumed?.Invoke(this);
            }
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0 && SynchronizationContext.Current == _loopContext)
        {
            flags &= ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext;
        }

        _core.OnCompleted(continuation, state, token, flags);
    }
}

/// <summary>A loop-only free list of write completions (never shared across threads).</summary>
internal struct CompletionPool<T>
{
    private LoopCompletion<T>? _free;

    public LoopCompletion<T> Rent(IOLoop loop, Action<LoopCompletion<T>> returnToPool)
    {
        LoopCompletion<T>? item = _free;
        if (item is null)
        {
            return new LoopCompletion<T>(loop) { OnConsumed = returnToPool };
        }

        _free = item.Next;
        item.Next = null;
        return item;
    }

    public void Return(LoopCompletion<T> item)
    {
        item.Next = _free;
        _free = item;
    }
}

/// <summary>Flush results are never "completed": a closed stream fails the flush instead.</summary>
internal static class FlushResults
{
    public static readonly FlushResult Ok = new(isCanceled: false, isCompleted: false);
}
