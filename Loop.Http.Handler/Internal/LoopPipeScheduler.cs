using System.IO.Pipelines;

namespace Loop.Http.Internal;

/// <summary>Runs a pipe's continuations on a loop's thread (through <see cref="IOLoop.AddCallback(Action{object?}, object?)"/>, which is thread-safe).</summary>
internal sealed class LoopPipeScheduler(IOLoop loop) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state) => loop.AddCallback(action, state);
}
