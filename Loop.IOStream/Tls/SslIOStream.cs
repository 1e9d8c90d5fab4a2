using System.Runtime.CompilerServices;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Loop.Streams;
using Loop.Tls;

namespace Loop;

/// <summary>
/// An <see cref="IOStream"/> that speaks TLS: an <see cref="SslStream"/> over the loop-driven
/// socket. The handshake and every record are processed on the loop thread as the socket becomes
/// readable or writable; nothing blocks and no thread-pool thread is involved.
/// </summary>
/// <remarks>
/// <para>
/// Connect with <see cref="ConnectAsync(EndPoint, TlsClientOptions, CancellationToken)"/> (or
/// <see cref="TcpConnector"/>), upgrade a plain stream with
/// <see cref="IOStream.StartTlsAsync(TlsClientOptions, CancellationToken)"/>, or handshake an
/// accepted socket with <see cref="AuthenticateAsServerAsync"/>. Reads wait until the handshake
/// is done; writes made before then are sent after it.
/// </para>
/// <para>
/// A failed handshake closes the stream and raises <see cref="TlsHandshakeException"/>, whose
/// <see cref="TlsHandshakeException.Reason"/> says why (untrusted root, name mismatch, expired).
/// Chain building does not download missing intermediate certificates (that would block the
/// loop), so a server must send its full chain.
/// </para>
/// </remarks>
public sealed class SslIOStream : IOStream
{
    private readonly SslStream _ssl;
    private readonly LoopCompletion<int> _rawRead;
    private readonly LoopCompletion<bool> _resume;
    private byte[]? _leftover;
    private int _leftoverOffset;
    private bool _rawReadPending;
    private Memory<byte> _rawReadBuffer;
    private bool _handshakeStarted;
    private bool _handshakeDone;
    private bool _pumpPaused;

    // Receives made straight from the transport's read since the last readable event.
    private const int EagerReceiveBudget = 16;
    private int _eagerReceives;

    // The pump's task, kept for DescribeState (it ends by closing the stream, never by throwing).
    private Task? _pump;

    // Transport calls SslStream made from a thread other than the loop's (marshalled to the loop).
    private int _offLoopCalls;

    // Set by Close while a handshake runs, so the handshake fails at once rather than when SslStream notices.
    private TaskCompletionSource? _closedSignal;
    private List<(byte[] Data, LoopCompletion<FlushResult> Completion)>? _earlyWrites;

    // Plaintext written through Output and not flushed yet; encrypted on flush.
    private WriteBuffer? _plainOutput;

    /// <summary>
    /// Wraps <paramref name="socket"/> (connected or not), which the stream now owns. Nothing is
    /// sent until <see cref="ConnectAsync(EndPoint, TlsClientOptions, CancellationToken)"/>,
    /// <see cref="AuthenticateAsClientAsync"/> or <see cref="AuthenticateAsServerAsync"/>.
    /// </summary>
    public SslIOStream(Socket socket, IOStreamOptions? options = null, IOLoop? loop = null)
        : this(socket, options, loop, leftover: null, connected: false)
    {
    }

    /// <summary>A TLS stream over <paramref name="socket"/>; <paramref name="connected"/>: a stream that connected it (with connect(2) itself, so the socket does not know) hands it over.</summary>
    internal SslIOStream(Socket socket, IOStreamOptions? options, IOLoop? loop, byte[]? leftover, bool connected)
        : base(socket, options, loop, connected)
    {
        _leftover = leftover is { Length: > 0 } ? leftover : null;
        _rawRead = new LoopCompletion<int>(_loop);
        _resume = new LoopCompletion<bool>(_loop);
        _ssl = new SslStream(new TlsTransport(this), leaveInnerStreamOpen: false);
    }

    /// <summary>True once the handshake has completed.</summary>
    public bool IsHandshakeComplete => _handshakeDone;

    /// <summary>The protocol chosen through ALPN (empty if none).</summary>
    public SslApplicationProtocol NegotiatedApplicationProtocol => _handshakeDone ? _ssl.NegotiatedApplicationProtocol : default;

    /// <summary>The TLS version in use (None before the handshake).</summary>
    public SslProtocols SslProtocol => _handshakeDone ? _ssl.SslProtocol : SslProtocols.None;

    /// <summary>The cipher suite in use, null before the handshake.</summary>
    public TlsCipherSuite? NegotiatedCipherSuite => _handshakeDone ? _ssl.NegotiatedCipherSuite : null;

    /// <summary>The peer's certificate, if it sent one.</summary>
    public X509Certificate? RemoteCertificate => _handshakeDone ? _ssl.RemoteCertificate : null;

    /// <summary>
    /// Connects to <paramref name="remoteEndPoint"/>, then performs the client handshake
    /// (<see cref="AuthenticateAsClientAsync"/>). Set <see cref="TlsClientOptions.ServerName"/>
    /// to the host name to check; without it an IP endpoint's address is checked.
    /// </summary>
    /// <exception cref="StreamClosedException">(In the task.) The connection failed.</exception>
    /// <exception cref="TlsHandshakeException">(In the task.) The handshake failed.</exception>
    public async ValueTask ConnectAsync(EndPoint remoteEndPoint, TlsClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        await ConnectAsync(remoteEndPoint).ConfigureAwait(false);
        if (options.ServerName is null && remoteEndPoint is IPEndPoint ip)
        {
            options = options.WithDefaultServerName(ip.Address.ToString());
        }

        await AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(true);
    }

    /// <summary>
    /// Performs the client handshake on the connected socket. On failure the stream is closed and
    /// the task fails with <see cref="TlsHandshakeException"/> (or <see cref="StreamClosedException"/>
    /// if the connection was lost, <see cref="OperationCanceledException"/> if cancelled).
    /// </summary>
    /// <exception cref="ArgumentException">A CA or client certificate file cannot be loaded.</exception>
    /// <exception cref="InvalidOperationException">A handshake was already started.</exception>
    public async ValueTask AuthenticateAsClientAsync(TlsClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        SslClientAuthenticationOptions ssl = TlsValidation.Build(options, out TlsValidation validation);
        BeginHandshake();
        await HandshakeAsync(_ssl.AuthenticateAsClientAsync(ssl, CancellationToken.None), validation, cancellationToken).ConfigureAwait(true);
    }

    /// <summary>
    /// Performs the server handshake on an accepted socket. On failure the stream is closed and
    /// the task fails with <see cref="TlsHandshakeException"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A handshake was already started.</exception>
    public async ValueTask AuthenticateAsServerAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        BeginHandshake();
        await HandshakeAsync(_ssl.AuthenticateAsServerAsync(options, CancellationToken.None), null, cancellationToken).ConfigureAwait(true);
    }

    private void BeginHandshake()
    {
        if (_handshakeStarted)
        {
            throw new InvalidOperationException("The TLS handshake was already started on this stream.");
        }

        if (IsClosed)
        {
            throw StreamClosedException.For(Error);
        }

        _handshakeStarted = true;
    }

    private async Task HandshakeAsync(Task handshake, TlsValidation? validation, CancellationToken cancellationToken)
    {
        // SslStream's own cancellation would complete on the cancelling thread; closing the stream
        // from the loop makes the handshake fail where it runs instead.
        using CancellationTokenRegistration registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((SslIOStream)state!).CancelFromAnyThread(), this)
            : default;
        Exception? failed = null;
        _closedSignal = new TaskCompletionSource();
        // Awaited on the loop's context (this runs on the loop): back on the loop inline when the
        // handshake ends there, posted to it when SslStream ends it on the thread pool. With
        // ConfigureAwait(false) a Task completed under the loop's context would resume on the
        // pool every time, an extra hop that a busy pool can hold up.
        if (await Task.WhenAny(handshake, _closedSignal.Task).ConfigureAwait(true) != handshake)
        {
            // Closed (a timeout, a cancellation, the peer) while SslStream still works, perhaps on
            // another thread: the handshake has failed now, here on the loop, and what SslStream
            // does later is of no interest.
            _ = handshake.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            failed = new IOException("The connection was closed during the TLS handshake.", Error);
        }
        else
        {
            try
            {
                await handshake.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failed = e;
            }
        }

        // SslStream may have finished on a thread-pool thread; the rest runs on the loop.
        await new LoopReturn(_loop);
        if (failed is AuthenticationException or IOException)
        {
            Exception failure = MapHandshakeFailure(failed, validation, cancellationToken);
            Close(failure as TlsHandshakeException ?? Error ?? failure);
            throw failure;
        }

        if (failed is not null)
        {
            // Anything else SslStream may throw (an unsupported protocol, a crypto failure):
            // the half-made session is of no use.
            Close(failed);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        }

        if (IsClosed)
        {
            throw cancellationToken.IsCancellationRequested ? new OperationCanceledException(cancellationToken) : StreamClosedException.For(Error);
        }

        _handshakeDone = true;
        SendEarlyWrites();
        if (!IsClosed)
        {
            _pump = PumpAsync();
        }
    }

    private Exception MapHandshakeFailure(Exception e, TlsValidation? validation, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested && Error is OperationCanceledException)
        {
            return new OperationCanceledException("The TLS handshake was cancelled.", e, cancellationToken);
        }

        if (IsClosed && Error is not null && Error is not TlsHandshakeException)
        {
            // The connection was lost or closed under the handshake.
            return StreamClosedException.For(Error);
        }

        if (validation is not null && e is AuthenticationException)
        {
            return validation.CreateException(e);
        }

        return new TlsHandshakeException(TlsFailureReason.Other, "TLS handshake failed: " + e.Message, e);
    }

    private void CancelFromAnyThread() =>
        _loop.AddCallback(static state => ((SslIOStream)state!).Close(new OperationCanceledException("The operation was cancelled.")), this);

    internal override Memory<byte> OutputGetMemory(int sizeHint) => (_plainOutput ??= new WriteBuffer()).GetMemory(sizeHint);

    internal override void OutputAdvance(int count)
    {
        (_plainOutput ??= new WriteBuffer()).Advance(count);
        _outputUnflushed += count;
    }

    internal override ValueTask<FlushResult> OutputFlushAsync()
    {
        if (IsClosed)
        {
            return ValueTask.FromException<FlushResult>(StreamClosedException.For(Error));
        }

        ValueTask encrypted = EncryptPlainOutput();
        if (!encrypted.IsCompleted)
        {
            // Before the handshake the plaintext waits with the other early writes.
            return AwaitAsFlush(encrypted);
        }

        if (encrypted.IsFaulted)
        {
            return ValueTask.FromException<FlushResult>(StreamClosedException.For(Error));
        }

        return WhenSentAsFlush();

        static async ValueTask<FlushResult> AwaitAsFlush(ValueTask pending)
        {
            await pending.ConfigureAwait(false);
            return default;
        }
    }

    /// <summary>Sends what was written through Output and not flushed, ahead of any later write, as the plain stream does.</summary>
    private ValueTask EncryptPlainOutput()
    {
        WriteBuffer? plain = _plainOutput;
        _outputUnflushed = 0;
        if (plain is null || plain.IsEmpty)
        {
            return default;
        }

        byte[] data = new byte[plain.Length];
        int offset = 0;
        while (!plain.IsEmpty)
        {
            ReadOnlySpan<byte> first = plain.First;
            first.CopyTo(data.AsSpan(offset));
            offset += first.Length;
            plain.Consume(first.Length);
        }

        return WriteEncrypted(data);
    }

    private protected override ValueTask WriteCore(ReadOnlyMemory<byte> data)
    {
        if (_plainOutput is { IsEmpty: false })
        {
            _ = EncryptPlainOutput();
        }

        return WriteEncrypted(data);
    }

    private ValueTask WriteEncrypted(ReadOnlyMemory<byte> data)
    {
        if (!_handshakeDone)
        {
            // Tornado buffers writes made while connecting; they are encrypted once the handshake is done.
            LoopCompletion<FlushResult> completion = new(_loop);
            (_earlyWrites ??= []).Add((data.ToArray(), completion));
            return completion.StartNonGeneric();
        }

        if (!Encrypt(data))
        {
            return ValueTask.FromException(StreamClosedException.For(Error));
        }

        return WhenSent();
    }

    /// <summary>Encrypts into the socket's write buffer. The transport never blocks, so SslStream's synchronous write returns at once.</summary>
    private bool Encrypt(ReadOnlyMemory<byte> data)
    {
        try
        {
            _ssl.Write(data.Span);
        }
        catch (IOException) when (IsClosed)
        {
            return false;
        }

        return !IsClosed;
    }

    private void SendEarlyWrites()
    {
        List<(byte[] Data, LoopCompletion<FlushResult> Completion)>? writes = _earlyWrites;
        _earlyWrites = null;
        if (writes is null)
        {
            return;
        }

        foreach ((byte[] data, LoopCompletion<FlushResult> completion) in writes)
        {
            if (IsClosed || !Encrypt(data))
            {
                completion.SetException(StreamClosedException.For(Error));
                continue;
            }

            TrackWrite(completion);
        }
    }

    private protected override bool WantsSocketRead => IsConnected && _rawReadPending;

    internal override string DescribeState() =>
        base.DescribeState() + $" handshakeDone={_handshakeDone} rawReadPending={_rawReadPending} pumpPaused={_pumpPaused} eagerReceives={_eagerReceives} earlyWrites={_earlyWrites?.Count ?? 0} pump={_pump?.Status} offLoopCalls={_offLoopCalls}";

    private protected override void OnSocketReadable()
    {
        _eagerReceives = 0;
        if (!_rawReadPending)
        {
            return;
        }

        int n = _socket.Receive(_rawReadBuffer.Span, SocketFlags.None, out SocketError error);
        if (error is SocketError.WouldBlock or SocketError.Interrupted)
        {
            return;
        }

        if (error != SocketError.Success)
        {
            // Close fails the pending transport read (OnClosed), which fails SslStream's read.
            CloseWithSocketError(error, "read");
            return;
        }

        _rawReadPending = false;
        _rawReadBuffer = default;
        _rawRead.SetResult(n);
    }

    private protected override void OnReadRoom()
    {
        if (_pumpPaused && BufferedByteCount < ReadAheadLimit)
        {
            _pumpPaused = false;
            _resume.SetResult(true);
        }

        UpdateInterest();
    }

    private protected override void CloseTransport()
    {
        base.CloseTransport();
        _plainOutput?.Clear();
        try
        {
            _ssl.Dispose();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // The socket is already closed; SslStream may object to being disposed with a read in
            // flight, and there is nothing left to release.
        }
    }

    private protected override void OnClosed()
    {
        _closedSignal?.TrySetResult();

        if (_rawReadPending)
        {
            _rawReadPending = false;
            _rawReadBuffer = default;
            _rawRead.SetException(new IOException("The connection was closed.", Error));
        }

        if (_pumpPaused)
        {
            _pumpPaused = false;
            _resume.SetResult(false);
        }

        List<(byte[] Data, LoopCompletion<FlushResult> Completion)>? writes = _earlyWrites;
        _earlyWrites = null;
        if (writes is not null)
        {
            foreach ((_, LoopCompletion<FlushResult> completion) in writes)
            {
                completion.SetException(StreamClosedException.For(Error));
            }
        }
    }

    /// <summary>Moves decrypted data into the read buffer while there is room (the plain stream's receive, one record at a time).</summary>
    private async Task PumpAsync()
    {
        try
        {
            while (!IsClosed)
            {
                if (BufferedByteCount >= ReadAheadLimit)
                {
                    _pumpPaused = true;
                    if (!await _resume.Start().ConfigureAwait(false))
                    {
                        return;
                    }

                    continue;
                }

                int n = await _ssl.ReadAsync(GetReceiveMemory()).ConfigureAwait(false);

                // SslStream's read may complete on the thread pool; the buffer is the loop's.
                await new LoopReturn(_loop);
                if (IsClosed)
                {
                    return;
                }

                if (n == 0)
                {
                    Close();
                    return;
                }

                CommitReceived(n);
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or InvalidOperationException or ObjectDisposedException)
        {
            // A TLS protocol error, or the transport failing because the stream closed.
            Close(e);
        }
    }

    /// <summary>The transport's read: the leftover of a plain stream first, then the socket.</summary>
    internal ValueTask<int> TransportReadAsync(Memory<byte> buffer)
    {
        if (_leftover is { } leftover)
        {
            int n = Math.Min(buffer.Length, leftover.Length - _leftoverOffset);
            leftover.AsSpan(_leftoverOffset, n).CopyTo(buffer.Span);
            _leftoverOffset += n;
            if (_leftoverOffset == leftover.Length)
            {
                _leftover = null;
            }

            return new ValueTask<int>(n);
        }

        if (IsClosed)
        {
            return Error is null ? new ValueTask<int>(0) : ValueTask.FromException<int>(new IOException("The connection was closed.", Error));
        }

        // Receive at once while this turn's budget lasts, so a busy connection does not wait a
        // poll per record; past it, wait for the poller like everyone else, so one fast TLS
        // peer cannot hold the loop (the budget is renewed by each readable event).
        if (IsConnected && _eagerReceives < EagerReceiveBudget)
        {
            _eagerReceives++;
            int n = _socket.Receive(buffer.Span, SocketFlags.None, out SocketError error);
            if (error == SocketError.Success)
            {
                return new ValueTask<int>(n);
            }

            if (error is not (SocketError.WouldBlock or SocketError.Interrupted))
            {
                CloseWithSocketError(error, "read");
                return ValueTask.FromException<int>(new IOException("The connection was closed.", Error));
            }
        }

        _rawReadPending = true;
        _rawReadBuffer = buffer;
        UpdateInterest();
        return _rawRead.Start();
    }

    /// <summary>
    /// The transport's read when SslStream calls it from another thread (its own continuations
    /// can resume on the thread pool, for instance after work it hands off during a handshake):
    /// the read is made on the loop, where the stream's state lives.
    /// </summary>
    internal Task<int> OffLoopReadAsync(Memory<byte> buffer)
    {
        Interlocked.Increment(ref _offLoopCalls);
        if (IsClosedFromAnyThread)
        {
            // Nothing to read any more, and nothing to post to a loop that may be gone.
            return Task.FromException<int>(new IOException("The connection was closed.", Error));
        }

        // Completed on the loop thread, and without RunContinuationsAsynchronously: SslStream's
        // continuation then runs there, and the stream's reads come back onto the loop.
        var completion = new TaskCompletionSource<int>();
        _loop.AddCallback(() =>
        {
            ValueTask<int> read = TransportReadAsync(buffer);
            if (read.IsCompleted)
            {
                SetFrom(completion, read);
                return;
            }

            ValueTaskAwaiter<int> awaiter = read.GetAwaiter();
            awaiter.UnsafeOnCompleted(() => SetFrom(completion, read));
        });
        return completion.Task;

        static void SetFrom(TaskCompletionSource<int> completion, ValueTask<int> read)
        {
            try
            {
                completion.TrySetResult(read.Result); // Completed (both callers check): no blocking.
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        }
    }

    /// <summary>The transport's write from another thread: made on the loop, in order with the loop's own.</summary>
    internal Task OffLoopWriteAsync(byte[] data)
    {
        Interlocked.Increment(ref _offLoopCalls);
        if (IsClosedFromAnyThread)
        {
            return Task.FromException(new IOException("The connection was closed.", Error));
        }

        var completion = new TaskCompletionSource();
        _loop.AddCallback(() =>
        {
            try
            {
                TransportWrite(data);
                completion.TrySetResult();
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        });
        return completion.Task;
    }

    /// <summary>The transport's write: straight into the socket's write buffer, never waiting.</summary>
    internal void TransportWrite(ReadOnlySpan<byte> data)
    {
        if (!WriteRaw(data))
        {
            throw new IOException("The connection was closed.", Error);
        }
    }

}
