using System.IO.Pipelines;
using System.Net.Sockets;
using Loop.Streams;
using Microsoft.Extensions.Logging;

namespace Loop;

/// <summary>
/// A non-blocking socket driven by an <see cref="IOLoop"/>, with Tornado's stream operations:
/// read until a delimiter or pattern, read a number of bytes, read into a buffer, read until
/// close, streaming reads, and writes that complete when the kernel has the data.
/// </summary>
/// <remarks>
/// <para>
/// Loop thread only: every member must be called on the thread running the stream's loop, and
/// every operation completes there. Continuations of the returned tasks run inline, inside the
/// loop's event handler, with no queue hop.
/// </para>
/// <para>
/// Reading: the stream reads from the socket whenever it is readable and fewer than
/// <see cref="IOStreamOptions.ReadChunkSize"/> bytes are buffered (up to
/// <see cref="IOStreamOptions.MaxBufferSize"/> while a read is pending) into a
/// System.IO.Pipelines <see cref="Pipe"/>, then satisfies the pending read from that buffer.
/// Only one read may be pending at a time. A parser can also read the buffer without copying
/// through <see cref="Input"/>.
/// </para>
/// <para>
/// Writing: <see cref="WriteAsync"/> tries the socket at once and buffers only what the kernel did
/// not take; write interest is registered only while data is pending. Writes complete in order.
/// <see cref="Output"/> lets a producer write straight into that buffer.
/// </para>
/// <para>
/// Closing: a peer close or a socket error closes the stream. Data that arrived before the close
/// can still be read. Pending operations then fail with <see cref="StreamClosedException"/>,
/// whose inner exception is the cause (also in <see cref="Error"/>), and the close callback runs
/// after them. The socket is unregistered and disposed exactly once.
/// </para>
/// </remarks>
public partial class IOStream : IDisposable
{
    private protected readonly IOLoop _loop;
    private protected readonly Socket _socket;
    private protected readonly ILogger _logger;
    private protected readonly IOStreamOptions _options;
    private readonly int _fd;

    // Linux, plain stream: the stream calls recv(2) and send(2) on _fd itself (see the constructor).
    private readonly bool _direct;
    private readonly IOHandler _handler;

    private bool _registered;

    // The poller reported a bare hang-up while reading was paused (see HandleEvents).
    private bool _hungUp;
    private IOEvents _interest;
    private bool _connecting;
    private bool _connected;
    private bool _closed;
    private Exception? _error;
    private Action? _closeCallback;
    private LoopCompletion<bool>? _connectCompletion;

    /// <summary>
    /// Wraps <paramref name="socket"/>, which the stream now owns and disposes when it closes. A
    /// connected socket is read from at once; an unconnected one waits for
    /// <see cref="ConnectAsync"/>. The socket is switched to non-blocking mode.
    /// </summary>
    /// <param name="socket">A stream socket (TCP or Unix domain). Do not use its own async methods afterwards.</param>
    /// <param name="options">Buffer limits; null for the defaults.</param>
    /// <param name="loop">The loop that drives the stream; null for <see cref="IOLoop.Current"/>.</param>
    public IOStream(Socket socket, IOStreamOptions? options = null, IOLoop? loop = null)
        : this(socket, options, loop, connected: false)
    {
    }

    /// <summary>As the public constructor; <paramref name="connected"/> says the socket is connected even if it does not know (a stream connected it with connect(2) and hands it over).</summary>
    private protected IOStream(Socket socket, IOStreamOptions? options, IOLoop? loop, bool connected)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= IOStreamOptions.Default;
        options.Validate();
        _socket = socket;
        _options = options;
        _loop = loop ?? IOLoop.Current;
        _logger = _loop.LoggerFactory.CreateLogger("Loop.IOStream");
        _fd = (int)_socket.Handle;

        // On Linux a plain stream switches the descriptor to non-blocking mode and calls recv(2)
        // and send(2) itself: .NET's Socket would add a context object per socket for the
        // switch and a reference count, state checks and errno translation to every call. A
        // TLS stream keeps .NET's calls (SslStream's reads may come from its own machinery).
        _direct = OperatingSystem.IsLinux() && this is not SslIOStream && Interop.Libc.SetNonBlockingLinux(_fd) == 0;
        if (!_direct)
        {
            _socket.Blocking = false;
        }

        _handler = HandleEvents;
        _writeBuffer = new WriteBuffer();
        int chunk = options.EffectiveReadChunkSize;
        _pipe = new Pipe(options.PipeOptions);
        _pipeReader = _pipe.Reader;
        _pipeWriter = _pipe.Writer;
        _minimumReceive = Math.Max(1, chunk / 8);
        _connected = connected || socket.Connected;
        if (_connected)
        {
            UpdateInterest();
        }
    }

    /// <summary>The loop that drives this stream.</summary>
    public IOLoop Loop => _loop;

    /// <summary>
    /// The socket under the stream. Do not read, write or close it directly. On Linux a plain
    /// (not TLS) stream puts the descriptor in non-blocking mode itself, so the socket's own
    /// <see cref="Socket.Blocking"/> may still read true. On Linux
    /// <see cref="ConnectAsync"/> connects it with connect(2) itself, so the socket's own
    /// <see cref="Socket.Connected"/> and <see cref="Socket.RemoteEndPoint"/> do not reflect that
    /// connection; ask the stream (<see cref="IsConnected"/>) instead.
    /// </summary>
    public Socket Socket => _socket;

    /// <summary>The socket's descriptor number (Tornado's <c>fileno()</c>).</summary>
    public int FileDescriptor => _fd;

    /// <summary>True once the stream has closed, by either side.</summary>
    public bool IsClosed => _closed;

    /// <summary>True while a read is pending (including a read through <see cref="Input"/> that has not been advanced).</summary>
    public bool IsReading => _readKind != ReadKind.None;

    /// <summary>True while written data waits in the stream's buffer for the kernel.</summary>
    public bool IsWriting => !_writeBuffer.IsEmpty;

    /// <summary>True once the socket is connected.</summary>
    public bool IsConnected => _connected;

    /// <summary>
    /// Why the stream closed: a <see cref="SocketException"/> (such as ECONNRESET), a
    /// <see cref="TlsHandshakeException"/>, an <see cref="UnsatisfiableReadException"/>, a
    /// <see cref="StreamBufferFullException"/>, or the exception given to <see cref="Close"/>.
    /// Null while open and after a plain close.
    /// </summary>
    public Exception? Error => _error;

    /// <summary>The options the stream was created with.</summary>
    public IOStreamOptions Options => _options;

    /// <summary>
    /// Sets the callback to run once the stream closes (null clears it). It runs as a loop
    /// callback after the pending operations have completed or failed; if the stream is already
    /// closed it is scheduled at once.
    /// </summary>
    public void SetCloseCallback(Action? callback)
    {
        _closeCallback = callback;
        if (_closed)
        {
            ScheduleCloseCallback();
        }
    }

    /// <summary>Turns Nagle's algorithm off (true) or on. Ignored on a closed stream or a socket without the option.</summary>
    public void SetNoDelay(bool value)
    {
        if (_closed || _socket.ProtocolType != ProtocolType.Tcp)
        {
            return;
        }

        try
        {
            _socket.NoDelay = value;
        }
        catch (SocketException)
        {
            // The connection may already be reset; the next read or write reports that.
        }
    }

    /// <summary>
    /// Closes the stream: unregisters and disposes the socket, completes a pending read that the
    /// buffer can satisfy, fails every other pending operation with
    /// <see cref="StreamClosedException"/> (inner exception: <paramref name="error"/>), and
    /// schedules the close callback. Later calls do nothing. Buffered data stays readable.
    /// </summary>
    /// <param name="error">The cause, kept in <see cref="Error"/>; null for a plain close.</param>
    public void Close(Exception? error = null)
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _error ??= error;
        _connecting = false;
        if (_registered)
        {
            _registered = false;
            _loop.RemoveHandler(_fd);
        }

        CloseTransport();
        _pipeWriter.Complete();
        if (_inputWaiting)
        {
            CompleteInputRead();
        }

        LoopCompletion<bool>? connect = _connectCompletion;
        if (connect is not null && _connectPending)
        {
            _connectPending = false;
            _connectCompletion = null;
            connect.SetException(StreamClosedException.For(_error));
        }

        try
        {
            CompleteReadAtClose();
        }
        finally
        {
            try
            {
                FailWritesAtClose();
                _writeBuffer.Clear();
                OnClosed();
            }
            finally
            {
                ScheduleCloseCallback();
            }
        }
    }

    /// <summary>Whether the stream is closed, readable from another thread (a stale false only means a needless post to the loop).</summary>
    internal bool IsClosedFromAnyThread => Volatile.Read(ref _closed);

    /// <summary>The stream's internal state in one line, for a test or a log that must say why something waits.</summary>
    internal virtual string DescribeState() =>
        $"fd={_fd} closed={_closed} error={_error?.GetType().Name} connected={_connected} registered={_registered} interest={_interest} " +
        $"hungUp={_hungUp} read={_readKind} buffered={_buffered} writeBuffered={_writeBuffer.Length}";

    /// <summary>Closes the stream (<see cref="Close"/>).</summary>
    public void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// One receive from the socket into <paramref name="buffer"/>: the bytes received (0 at the
    /// end of the stream), or 0 with <paramref name="error"/> saying why not (WouldBlock when
    /// nothing is there). Throws <see cref="ObjectDisposedException"/> once the stream has closed,
    /// as the disposed socket would: its descriptor number may already belong to another socket.
    /// </summary>
    private protected int SocketReceive(Span<byte> buffer, out SocketError error)
    {
        // (IsLinux is a constant for the JIT: elsewhere this is the Socket call alone.)
        if (!OperatingSystem.IsLinux() || !_direct)
        {
            return _socket.Receive(buffer, SocketFlags.None, out error);
        }

        ObjectDisposedException.ThrowIf(_closed, _socket);
        int n = Interop.Libc.ReceiveLinux(_fd, buffer, out int errno);
        return Outcome(n, errno, out error);
    }

    /// <summary>One send of <paramref name="data"/> (or its start): as <see cref="SocketReceive"/>, the bytes the kernel took.</summary>
    private protected int SocketSend(ReadOnlySpan<byte> data, out SocketError error)
    {
        if (!OperatingSystem.IsLinux() || !_direct)
        {
            return _socket.Send(data, SocketFlags.None, out error);
        }

        ObjectDisposedException.ThrowIf(_closed, _socket);
        int n = Interop.Libc.SendLinux(_fd, data, out int errno);
        return Outcome(n, errno, out error);
    }

    /// <summary>A direct call's result as .NET's socket calls give it: the count (0 on failure) and the error.</summary>
    private static int Outcome(int n, int errno, out SocketError error)
    {
        error = n >= 0 ? SocketError.Success : LinuxSocketErrors.FromErrno(errno);
        return Math.Max(n, 0);
    }

    /// <summary>Disposes what carries the bytes; the socket by default.</summary>
    private protected virtual void CloseTransport() => _socket.Dispose();

    /// <summary>Runs at the end of <see cref="Close"/>, after pending operations were settled.</summary>
    private protected virtual void OnClosed()
    {
    }

    /// <summary>Whether the stream wants readable events from the socket now.</summary>
    private protected virtual bool WantsSocketRead => _connected && _buffered < ReadAheadLimit;

    /// <summary>Handles a readable (or error) event: take bytes from the socket.</summary>
    private protected virtual void OnSocketReadable() => ReceiveIntoBuffer();

    /// <summary>Reading room came free (data consumed, or a read started): resume reading if paused.</summary>
    private protected virtual void OnReadRoom() => UpdateInterest();

    private void ScheduleCloseCallback()
    {
        Action? callback = _closeCallback;
        if (callback is null)
        {
            return;
        }

        _closeCallback = null;
        _loop.AddCallback(callback);
    }

    private void HandleEvents(int fd, IOEvents events)
    {
        if (_closed)
        {
            return;
        }

        if (_connecting)
        {
            if ((events & (IOEvents.Write | IOEvents.Error)) != 0)
            {
                FinishConnect();
            }

            if (_closed)
            {
                return;
            }

            UpdateInterest();
            return;
        }

        bool reading = (_interest & IOEvents.Read) != 0;
        if ((events & IOEvents.Read) != 0 || ((events & IOEvents.Error) != 0 && reading))
        {
            OnSocketReadable();
            if (_closed)
            {
                return;
            }
        }

        if ((events & IOEvents.Write) != 0)
        {
            FlushWrites();
            if (_closed)
            {
                return;
            }
        }

        if ((events & IOEvents.Error) != 0 && !reading)
        {
            // Not reading (the buffer is full or a TLS layer is not asking), so a level-triggered
            // error or hang-up would repeat forever. A real error closes the stream (data already
            // buffered stays readable). A bare hang-up (a Unix socket's peer closed; SO_ERROR is
            // 0) may still have data queued in the kernel: stop watching until reading resumes,
            // and the read then finds the data and the end of the stream.
            var soError = (SocketError)(int)_socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
            if (soError != SocketError.Success)
            {
                CloseWithSocketError(soError, "poll");
                return;
            }

            _hungUp = true;
        }

        UpdateInterest();
    }

    private protected void UpdateInterest()
    {
        if (_closed)
        {
            return;
        }

        IOEvents want = IOEvents.None;
        if (_connecting)
        {
            want = IOEvents.Write;
        }
        else if (_connected)
        {
            if (WantsSocketRead)
            {
                want |= IOEvents.Read;
            }

            if (!_writeBuffer.IsEmpty)
            {
                want |= IOEvents.Write;
            }
        }

        if (_hungUp && want == IOEvents.None)
        {
            // The hang-up would be reported again at once even with no events asked for: stop
            // watching until there is something to read or write (a write then fails with EPIPE).
            if (_registered)
            {
                _registered = false;
                _interest = IOEvents.None;
                _loop.RemoveHandler(_fd);
            }

            return;
        }

        if (!_registered)
        {
            if (want == IOEvents.None)
            {
                return;
            }

            _loop.AddHandler(_socket, _handler, want);
            _registered = true;
            _interest = want;
        }
        else if (want != _interest)
        {
            _loop.UpdateHandler(_fd, want);
            _interest = want;
        }
    }

    private protected void CloseWithSocketError(SocketError error, string operation)
    {
        var exception = new SocketException((int)error);
        if (!IsQuietError(error))
        {
            StreamLog.SocketError(_logger, operation, _fd, exception.Message);
        }

        Close(exception);
    }

    /// <summary>Errors that end a connection in the normal course of things and are not logged (Tornado's <c>_is_connreset</c>).</summary>
    private static bool IsQuietError(SocketError error) => error is
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or
        SocketError.TimedOut or SocketError.NotConnected or SocketError.ConnectionRefused or
        SocketError.HostUnreachable or SocketError.NetworkUnreachable;
}
