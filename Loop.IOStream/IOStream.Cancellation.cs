namespace Loop;

/// <summary>
/// Cancellation of a stream's operations. A read or write cannot be taken back halfway (a read
/// may have consumed part of what it asked for, a write handed part of its bytes to the
/// kernel), so cancelling a pending operation closes the stream, as aborting does in Tornado
/// and as <c>HttpClient</c> drops a connection whose request was cancelled: the operation fails
/// with <see cref="OperationCanceledException"/> carrying the token, and <see cref="Error"/> is
/// that exception. A token already cancelled at the call fails the call at once and leaves the
/// stream as it was. An operation that completes at once never looks at the token, and a token
/// that cannot be cancelled costs nothing.
/// </summary>
public partial class IOStream
{
    private ValueTask<T> Cancellable<T>(ValueTask<T> operation, CancellationToken cancellationToken) =>
        !cancellationToken.CanBeCanceled || operation.IsCompleted ? operation : AwaitCancellable(operation, cancellationToken);

    private ValueTask Cancellable(ValueTask operation, CancellationToken cancellationToken) =>
        !cancellationToken.CanBeCanceled || operation.IsCompleted ? operation : AwaitCancellable(operation, cancellationToken);

    private async ValueTask<T> AwaitCancellable<T>(ValueTask<T> operation, CancellationToken cancellationToken)
    {
        var pending = new PendingOperation(this, cancellationToken);
        try
        {
            return await operation.ConfigureAwait(false);
        }
        catch (StreamClosedException) when (pending.Cancelled)
        {
            throw new OperationCanceledException("The operation was cancelled, and the stream closed.", cancellationToken);
        }
        finally
        {
            pending.End();
        }
    }

    private async ValueTask AwaitCancellable(ValueTask operation, CancellationToken cancellationToken)
    {
        var pending = new PendingOperation(this, cancellationToken);
        try
        {
            await operation.ConfigureAwait(false);
        }
        catch (StreamClosedException) when (pending.Cancelled)
        {
            throw new OperationCanceledException("The operation was cancelled, and the stream closed.", cancellationToken);
        }
        finally
        {
            pending.End();
        }
    }

    /// <summary>
    /// One pending operation and its token's registration. The token may fire on any thread; the
    /// stream is closed on the loop thread, and only if the operation is still pending there
    /// (its end is also noted on the loop thread, where operations complete).
    /// </summary>
    private sealed class PendingOperation
    {
        private readonly IOStream _stream;
        private readonly CancellationToken _token;
        private CancellationTokenRegistration _registration;
        private bool _ended;

        public PendingOperation(IOStream stream, CancellationToken token)
        {
            _stream = stream;
            _token = token;
            _registration = token.UnsafeRegister(static state => ((PendingOperation)state!).OnCancelled(), this);
        }

        /// <summary>Whether the token closed the stream under this operation.</summary>
        public bool Cancelled { get; private set; }

        public void End()
        {
            _ended = true;
            _registration.Dispose();
        }

        private void OnCancelled()
        {
            IOLoop loop = _stream.Loop;
            if (loop.IsOnLoopThread || loop.IsClosed)
            {
                CloseIfPending();
            }
            else
            {
                loop.AddCallback(static state => ((PendingOperation)state!).CloseIfPending(), this);
            }
        }

        private void CloseIfPending()
        {
            if (_ended || _stream.IsClosed)
            {
                return;
            }

            Cancelled = true;
            _stream.Close(new OperationCanceledException(_token));
        }
    }
}
