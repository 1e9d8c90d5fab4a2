using System.Runtime.CompilerServices;

namespace Loop.Streams;

/// <summary>
/// Awaiting this resumes on the loop thread: at once when already there (no queue hop), else
/// through the loop's callback queue. For code that awaits something it does not control
/// (SslStream, whose own continuations may run on the thread pool) and must then touch the
/// stream's loop-only state.
/// </summary>
internal readonly struct LoopReturn(IOLoop loop) : ICriticalNotifyCompletion
{
    public bool IsCompleted => loop.IsOnLoopThread;

    public LoopReturn GetAwaiter() => this;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => loop.AddCallback(continuation);

    public void UnsafeOnCompleted(Action continuation) => loop.AddCallback(continuation);
}
