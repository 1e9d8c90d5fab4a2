using System.Runtime.ExceptionServices;

namespace Loop;

/// <summary>
/// Posts continuations to an <see cref="IOLoop"/>. Installed as the loop thread's context
/// while the loop runs, so that <c>await</c> on the loop thread comes back to the loop thread
/// with no thread-pool hop.
/// </summary>
internal sealed class IOLoopSynchronizationContext : SynchronizationContext
{
    private readonly IOLoop _loop;

    internal IOLoopSynchronizationContext(IOLoop loop)
    {
        _loop = loop;
    }

    /// <summary>Queues the callback for the loop's next iteration (dropped if the loop is closed).</summary>
    public override void Post(SendOrPostCallback d, object? state)
    {
        ArgumentNullException.ThrowIfNull(d);
        _loop.Post(d, state);
    }

    /// <summary>
    /// Runs the callback on the loop thread and waits for it. On the loop thread it runs inline;
    /// from another thread it blocks that thread (never the loop) until the loop has run it.
    /// </summary>
    public override void Send(SendOrPostCallback d, object? state)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (_loop.IsOnLoopThread)
        {
            d(state);
            return;
        }

        using var done = new ManualResetEventSlim();
        ExceptionDispatchInfo? error = null;
        _loop.AddCallback(() =>
        {
            try
            {
                d(state);
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                done.Set();
            }
        });
        done.Wait(); // Blocks the calling thread, which is not the loop thread (checked above).
        error?.Throw();
    }

    public override SynchronizationContext CreateCopy() => this;
}
