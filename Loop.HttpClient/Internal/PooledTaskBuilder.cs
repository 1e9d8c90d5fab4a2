using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Loop.Http.Internal;

/// <summary>
/// An async method builder for <see cref="ValueTask{TResult}"/> methods that keeps the boxes of
/// suspended state machines in a per-thread pool, large enough for every request a loop runs
/// at once (the runtime's <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> keeps one
/// per thread and one per core, so at a concurrency of 64 nearly every box is new). Put
/// <c>[AsyncMethodBuilder(typeof(PooledTaskBuilder&lt;&gt;))]</c> on the method.
/// </summary>
/// <remarks>
/// The value task may be awaited once only (its box goes back to the pool when the result is
/// taken). Continuations run where the method completes: await these with
/// <c>ConfigureAwait(false)</c> on the loop thread, whose operations all complete there. Inside
/// such a method, await a <see cref="Task"/> with <c>ConfigureAwait(true)</c>: a Task completed
/// under the loop's SynchronizationContext runs a context-free continuation on the thread pool.
/// </remarks>
internal struct PooledTaskBuilder<TResult>
{
    private PooledBox<TResult>? _box;
    private TResult _result;

    public static PooledTaskBuilder<TResult> Create() => default;

    /// <summary>The box of a method that suspended or failed; null when it returned at once.</summary>
    internal readonly PooledBox<TResult>? Box => _box;

    public readonly ValueTask<TResult> Task => _box is { } box ? new ValueTask<TResult>(box, box.Version) : new ValueTask<TResult>(_result);

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        AsyncValueTaskMethodBuilder.Create().Start(ref stateMachine); // Restores the thread's contexts afterwards.

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult(TResult result)
    {
        if (_box is null)
        {
            _result = result;
        }
        else
        {
            _box.SetResult(result);
        }
    }

    public void SetException(Exception exception)
    {
        // A method that failed before it ever waited gets a box too: a faulted value task needs one.
        (_box ??= PooledBox<TResult, NoStateMachine>.Rent()).SetException(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(BoxFor(ref stateMachine).Prepare());

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(BoxFor(ref stateMachine).Prepare());

    private PooledBox<TResult> BoxFor<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        if (_box is PooledBox<TResult, TStateMachine> existing)
        {
            return existing;
        }

        // First suspension: the state machine (with this builder, box set) moves into the box.
        PooledBox<TResult, TStateMachine> box = PooledBox<TResult, TStateMachine>.Rent();
        _box = box;
        box.StateMachine = stateMachine;
        return box;
    }

    /// <summary>Stands in for the state machine of a method that failed without suspending.</summary>
    private struct NoStateMachine : IAsyncStateMachine
    {
        public readonly void MoveNext()
        {
        }

        public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
        {
        }
    }
}

/// <summary>As <see cref="PooledTaskBuilder{TResult}"/>, for methods returning <see cref="ValueTask"/>.</summary>
internal struct PooledTaskBuilder
{
    private PooledTaskBuilder<bool> _inner;

    public static PooledTaskBuilder Create() => default;

    public readonly ValueTask Task
    {
        get => _inner.Box is { } box ? new ValueTask(box, box.Version) : default;
    }

    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine => _inner.Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult() => _inner.SetResult(true);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine => _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine => _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

/// <summary>The value task source a suspended pooled method completes.</summary>
internal abstract class PooledBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<TResult> _core;

    protected PooledBox() => _core.RunContinuationsAsynchronously = false;

    public short Version => _core.Version;

    /// <summary>The continuation to give an awaiter, with the caller's execution context captured for it.</summary>
    public abstract Action Prepare();

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public TResult GetResult(short token)
    {
        if (token != _core.Version || _core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            // A misuse (awaited twice, or read before it finished): fail without recycling a box in use.
            return _core.GetResult(token);
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Recycle();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    protected abstract void Recycle();
}

/// <summary>A pooled box holding one kind of state machine.</summary>
internal sealed class PooledBox<TResult, TStateMachine> : PooledBox<TResult>
    where TStateMachine : IAsyncStateMachine
{
    private const int PoolLimit = 1024;

    [ThreadStatic]
    private static Stack<PooledBox<TResult, TStateMachine>>? t_pool;

    private static readonly ContextCallback s_runInContext = static state => ((PooledBox<TResult, TStateMachine>)state!).StateMachine.MoveNext();

    private readonly Action _moveNext;
    private ExecutionContext? _context;

    private PooledBox() => _moveNext = MoveNext;

    public TStateMachine StateMachine = default!;

    public static PooledBox<TResult, TStateMachine> Rent() =>
        t_pool is { } pool && pool.TryPop(out PooledBox<TResult, TStateMachine>? box) ? box : new PooledBox<TResult, TStateMachine>();

    public override Action Prepare()
    {
        _context = ExecutionContext.Capture();
        return _moveNext;
    }

    protected override void Recycle()
    {
        StateMachine = default!;
        _context = null;
        Stack<PooledBox<TResult, TStateMachine>> pool = t_pool ??= new Stack<PooledBox<TResult, TStateMachine>>();
        if (pool.Count < PoolLimit)
        {
            pool.Push(this);
        }
    }

    private void MoveNext()
    {
        ExecutionContext? context = _context;
        if (context is null)
        {
            StateMachine.MoveNext();
        }
        else
        {
            ExecutionContext.Run(context, s_runInContext, this);
        }
    }
}
