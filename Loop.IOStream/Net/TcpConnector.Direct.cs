using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Loop.Streams;

namespace Loop;

public sealed partial class TcpConnector
{
    // Finished direct connects, for the next one (loop thread only).
    private DirectConnect? _freeDirect;

    /// <summary>
    /// <see cref="ConnectAsync"/> to one known address: the same outcomes (timeout, cancellation,
    /// the connect error, the TLS handshake) as a race with a single runner, without the race's
    /// queues. On the loop thread the operation is reused from connect to connect, so a plain
    /// connect allocates only its stream.
    /// </summary>
    private ValueTask<IOStream> ConnectToAddressAsync(IPEndPoint endpoint, string host, TcpConnectOptions options, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromException<IOStream>(new OperationCanceledException(cancellationToken));
        }

        DirectConnect operation;
        if (_freeDirect is { } free && _loop.IsOnLoopThread)
        {
            _freeDirect = free.NextFree;
            free.NextFree = null;
            operation = free;
        }
        else
        {
            operation = new DirectConnect(this);
        }

        return operation.Start(endpoint, host, options, cancellationToken);
    }

    /// <summary>
    /// One connect to one address, its deadline and cancellation: either closes the stream, and
    /// its cause becomes the outcome. Completes on the loop thread; an <c>await</c> there resumes
    /// inline (as the stream's own completions do), without a post to the loop's context.
    /// </summary>
    private sealed class DirectConnect : IValueTaskSource<IOStream>
    {
        private static readonly Action<object?> s_timedOut = static state => ((DirectConnect)state!).End(null);
        private static readonly Action<object?> s_beginConnect = static state => ((DirectConnect)state!).BeginConnect();
        private static readonly Action<object?> s_cancelledFromAnyThread = static state =>
            ((DirectConnect)state!)._owner._loop.AddCallback(static s => ((DirectConnect)s!).Cancel(), state);

        private readonly TcpConnector _owner;
        private readonly Action _onConnected;
        private readonly Action _onHandshaken;
        private readonly LoopCompletion<bool> _connected;
        private ManualResetValueTaskSourceCore<IOStream> _core;
        private IOStream? _stream;
        private IPEndPoint? _endpoint;
        private string? _host;
        private TcpConnectOptions? _options;
        private CancellationToken _cancellationToken;
        private TimeoutHandle _deadline;
        private CancellationTokenRegistration _registration;
        private ValueTaskAwaiter _connectAwaiter;
        private ValueTaskAwaiter _handshakeAwaiter;

        // Why the stream was closed under the connect (the deadline or a cancellation); it wins
        // over the failure that closing causes. Running: between Start and the outcome.
        private Exception? _cause;
        private bool _running;

        public DirectConnect(TcpConnector owner)
        {
            _owner = owner;
            _onConnected = OnConnected;
            _onHandshaken = OnHandshaken;
            _connected = new LoopCompletion<bool>(owner._loop);
            _core.RunContinuationsAsynchronously = false;
        }

        public DirectConnect? NextFree { get; set; }

        public ValueTask<IOStream> Start(IPEndPoint endpoint, string host, TcpConnectOptions options, CancellationToken cancellationToken)
        {
            _core.Reset();
            var result = new ValueTask<IOStream>(this, _core.Version);
            IOLoop loop = _owner._loop;
            try
            {
                _stream = ConnectOperation.CreateStream(endpoint.AddressFamily, options, loop);
            }
            catch (Exception e)
            {
                _core.SetException(e);
                return result;
            }

            _endpoint = endpoint;
            _host = host;
            _options = options;
            _cancellationToken = cancellationToken;
            _cause = null;
            _running = true;
            if (options.Timeout > TimeSpan.Zero)
            {
                _deadline = loop.CallLater(options.Timeout, s_timedOut, this);
            }

            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.UnsafeRegister(s_cancelledFromAnyThread, this);
            }

            // The connect(2) waits for the loop's next callbacks, where it runs with every other
            // connect started in this iteration. Over loopback (or to a server as near) the
            // handshake runs inside connect(2) on this core and wakes the server's thread; a
            // burst of connects made back to back finds it still awake after the first, while
            // connects spread over an iteration's handlers wake it from sleep one by one. With
            // Connection: close at concurrency 64 that was about a third of the kernel's time per
            // request (perf, make bench's close rows). The delay is the rest of this iteration.
            loop.AddCallback(s_beginConnect, this);
            return result;
        }

        private void BeginConnect()
        {
            if (_cancellationToken.IsCancellationRequested)
            {
                // Cancelled before the connect began: no connection is made.
                End(new OperationCanceledException(_cancellationToken));
            }

            // On a stream already closed (the deadline, a cancellation) this completes at once
            // with that failure, and OnConnected finishes with its cause.
            _connectAwaiter = _stream!.ConnectWith(_endpoint!, _connected).GetAwaiter();
            if (_connectAwaiter.IsCompleted)
            {
                OnConnected();
            }
            else
            {
                _connectAwaiter.UnsafeOnCompleted(_onConnected);
            }
        }

        private void OnConnected()
        {
            IOStream stream = _stream!;
            try
            {
                _connectAwaiter.GetResult(); // Completed: the stream signalled it, or IsCompleted said so.
            }
            catch (StreamClosedException e)
            {
                _connectAwaiter = default;
                stream.Close();
                Exception cause = e.InnerException ?? e;
                Finish(_cause ?? new StreamClosedException($"Could not connect to {_endpoint}: {cause.Message}", cause));
                return;
            }

            _connectAwaiter = default;
            if (_options!.Tls is not { } tls || stream is not SslIOStream ssl)
            {
                Finish(null);
                return;
            }

            try
            {
                _handshakeAwaiter = ssl.AuthenticateAsClientAsync(tls.WithDefaultServerName(_host!), CancellationToken.None).GetAwaiter();
            }
            catch (Exception e)
            {
                stream.Close();
                Finish(_cause ?? e);
                return;
            }

            if (_handshakeAwaiter.IsCompleted)
            {
                OnHandshaken();
            }
            else
            {
                // The handshake's task may complete off the loop (SslStream): come back to it.
                _handshakeAwaiter.UnsafeOnCompleted(_onHandshaken);
            }
        }

        private void OnHandshaken()
        {
            if (!_owner._loop.IsOnLoopThread)
            {
                _owner._loop.AddCallback(_onHandshaken);
                return;
            }

            try
            {
                _handshakeAwaiter.GetResult(); // Completed: the continuation runs after it did.
            }
            catch (Exception e)
            {
                // A deadline or cancellation closes the stream under the handshake: that cause wins.
                _handshakeAwaiter = default;
                _stream!.Close();
                Finish(_cause ?? e);
                return;
            }

            _handshakeAwaiter = default;
            Finish(null);
        }

        /// <summary>The deadline passed (null) or the connect was cancelled: close the stream, and that is the outcome.</summary>
        private void End(Exception? error)
        {
            if (!_running || _cause is not null)
            {
                return;
            }

            _cause = error ?? new TimeoutException($"Timeout while connecting to {_host}:{_endpoint!.Port} (after {_options!.Timeout.TotalSeconds:0.###} s)");
            _stream!.Close();
        }

        private void Cancel()
        {
            // Posted from the token's thread: by now this connect may have ended, and the
            // operation may serve another one, which this cancellation concerns only if its token
            // is the same (then it is cancelled too).
            if (_cancellationToken.IsCancellationRequested)
            {
                End(new OperationCanceledException(_cancellationToken));
            }
        }

        /// <summary>The outcome: the stream, or <paramref name="error"/> (a cause that came too late to close the stream still wins).</summary>
        private void Finish(Exception? error)
        {
            _running = false;
            _owner._loop.RemoveTimeout(_deadline);
            _deadline = default;
            _registration.Dispose();
            _registration = default;
            IOStream stream = _stream!;
            error ??= _cause;
            if (error is not null && !stream.IsClosed)
            {
                stream.Close();
            }

            _stream = null;
            _endpoint = null;
            _host = null;
            _options = null;
            _cancellationToken = default;
            _cause = null;
            if (error is null)
            {
                _core.SetResult(stream);
            }
            else
            {
                _core.SetException(error);
            }
        }

        public IOStream GetResult(short token)
        {
            bool finished = token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                if (finished && _owner._loop.IsOnLoopThread)
                {
                    // Taken once: the operation can serve the next connect. (A second GetResult
                    // of the same value task sees another version and fails, as for any source.)
                    _core.Reset();
                    NextFree = _owner._freeDirect;
                    _owner._freeDirect = this;
                }
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0 && SynchronizationContext.Current == _owner._loop.SynchronizationContext)
            {
                // It completes on the loop thread: posting the continuation back to it would only add a queue hop.
                flags &= ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext;
            }

            _core.OnCompleted(continuation, state, token, flags);
        }
    }
}
