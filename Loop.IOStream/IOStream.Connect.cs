using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Loop.Streams;

namespace Loop;

public partial class IOStream
{
    private bool _connectPending;

    /// <summary>
    /// Connects the stream's socket to <paramref name="remoteEndPoint"/> without blocking. Writes
    /// made before the connection is up wait in the buffer and go out once it is; reads wait too.
    /// If the connection fails, the stream closes: the task fails with
    /// <see cref="StreamClosedException"/> whose inner exception (also <see cref="Error"/>) is the
    /// <see cref="SocketException"/> (for example ConnectionRefused), and the close callback runs.
    /// There is no timeout here; <see cref="TcpConnector"/> adds one, or call <see cref="Close"/>.
    /// </summary>
    /// <param name="remoteEndPoint">An IP or Unix domain endpoint. Host names must be resolved first (see <see cref="TcpConnector"/>), so that nothing blocks on DNS.</param>
    /// <exception cref="InvalidOperationException">The stream is already connected or connecting.</exception>
    /// <exception cref="ArgumentException"><paramref name="remoteEndPoint"/> is a <see cref="DnsEndPoint"/>.</exception>
    /// <param name="cancellationToken">Cancels the connect while it is in progress: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask ConnectAsync(EndPoint remoteEndPoint, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled(cancellationToken)
            : Cancellable(ConnectWith(remoteEndPoint, completion: null), cancellationToken);

    /// <summary>
    /// As <see cref="ConnectAsync(EndPoint, CancellationToken)"/>; a connect still in progress completes
    /// <paramref name="completion"/> (a connector's own, reused from stream to stream: the stream
    /// lets go of it once the connect has ended) rather than one of the stream's.
    /// </summary>
    internal ValueTask ConnectWith(EndPoint remoteEndPoint, LoopCompletion<bool>? completion)
    {
        ArgumentNullException.ThrowIfNull(remoteEndPoint);
        if (remoteEndPoint is DnsEndPoint)
        {
            throw new ArgumentException("Resolve the host name first (TcpConnector does); a DnsEndPoint would block the loop on DNS.", nameof(remoteEndPoint));
        }

        if (_closed)
        {
            return ValueTask.FromException(StreamClosedException.For(_error));
        }

        if (_connected || _connecting)
        {
            throw new InvalidOperationException(_connected ? "The stream is already connected." : "The stream is already connecting.");
        }

        _connecting = true;
        SocketError started = StartConnect(remoteEndPoint);
        if (started is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
        {
            UpdateInterest();
            _connectPending = true;
            _connectCompletion = completion ?? new LoopCompletion<bool>(_loop);
            return _connectCompletion.StartNonGeneric();
        }

        if (started != SocketError.Success)
        {
            _connecting = false;
            CloseWithSocketError(started, "connect");
            return ValueTask.FromException(StreamClosedException.For(_error));
        }

        OnConnected();
        return _closed ? ValueTask.FromException(StreamClosedException.For(_error)) : default;
    }

    /// <summary>
    /// Starts the connect. On Linux an IP endpoint goes straight to connect(2): .NET's
    /// <see cref="Socket.Connect(EndPoint)"/> reports the usual "in progress" of a non-blocking
    /// socket by throwing, which costs an exception (and its allocations) per connection. Its
    /// errors read as .NET's connect reports them (<see cref="LinuxSocketErrors"/>).
    /// </summary>
    private SocketError StartConnect(EndPoint remoteEndPoint)
    {
        if (OperatingSystem.IsLinux() && remoteEndPoint is IPEndPoint ip && ip.AddressFamily == _socket.AddressFamily)
        {
            Span<byte> address = stackalloc byte[28];
            int errno = Interop.Libc.Connect(_fd, address[..WriteSockaddr(ip, address)]);
            switch (errno)
            {
                case 0:
                    return SocketError.Success;
                case Interop.Libc.EINPROGRESS_Linux:
                case Interop.Libc.EINTR:
                    // After EINTR the connect goes on in the background, as after EINPROGRESS.
                    // Over loopback (and to a peer as near) the handshake is often done by the
                    // time connect(2) returns, although it says "in progress": then go on as
                    // connected, without waiting for a writable event. One extra call where the
                    // connect is really still under way.
                    return Interop.Libc.HasPeer(_fd) ? SocketError.Success : SocketError.InProgress;
                default:
                    // As .NET's connect would report it (the same errno table as the stream's
                    // reads and writes).
                    return LinuxSocketErrors.FromErrno(errno);
            }
        }

        if (_direct)
        {
            // .NET's connect of a socket it believes blocking would wait for the handshake.
            _socket.Blocking = false;
        }

        try
        {
            _socket.Connect(remoteEndPoint);
            return SocketError.Success;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    /// <summary>Writes Linux's sockaddr_in or sockaddr_in6 for <paramref name="endpoint"/>; returns its length.</summary>
    private static int WriteSockaddr(IPEndPoint endpoint, Span<byte> address)
    {
        address.Clear();
        bool v6 = endpoint.AddressFamily == AddressFamily.InterNetworkV6;

        // sa_family in host order (AF_INET 2, AF_INET6 10 on Linux), then the port in network order.
        MemoryMarshal.Write(address, (ushort)(v6 ? 10 : 2));
        BinaryPrimitives.WriteUInt16BigEndian(address[2..], (ushort)endpoint.Port);
        if (!v6)
        {
            endpoint.Address.TryWriteBytes(address[4..8], out _);
            return 16;
        }

        // sin6_flowinfo stays 0; the address, then sin6_scope_id in host order.
        endpoint.Address.TryWriteBytes(address[8..24], out _);
        MemoryMarshal.Write(address[24..], (uint)endpoint.Address.ScopeId);
        return 28;
    }

    private void FinishConnect()
    {
        var error = (SocketError)(int)_socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        if (error != SocketError.Success)
        {
            _connecting = false;
            CloseWithSocketError(error, "connect");
            return;
        }

        // The connect completes before the writes made while connecting (Tornado's order).
        _connecting = false;
        _connected = true;
        if (_connectPending)
        {
            _connectPending = false;
            if (_writeBuffer.IsEmpty)
            {
                // Stop watching for writability now, so that what the connect's continuation
                // writes (inline, from SetResult) is sent at once rather than buffered until the
                // next writable event.
                UpdateInterest();
            }

            LoopCompletion<bool> connect = _connectCompletion!;
            _connectCompletion = null;
            connect.SetResult(true);
        }

        if (!_closed)
        {
            OnConnected();
        }
    }

    /// <summary>The socket is connected: send what was written meanwhile and start reading.</summary>
    private void OnConnected()
    {
        _connecting = false;
        _connected = true;
        if (!_writeBuffer.IsEmpty)
        {
            FlushWrites();
        }

        UpdateInterest();
    }
}
