using System.Net;
using System.Net.Sockets;
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
    public ValueTask ConnectAsync(EndPoint remoteEndPoint)
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
        try
        {
            _socket.Connect(remoteEndPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
        {
            UpdateInterest();
            _connectPending = true;
            return (_connectCompletion ??= new LoopCompletion<bool>(_loop)).StartNonGeneric();
        }
        catch (SocketException e)
        {
            _connecting = false;
            CloseWithSocketError(e.SocketErrorCode, "connect");
            return ValueTask.FromException(StreamClosedException.For(_error));
        }

        OnConnected();
        return _closed ? ValueTask.FromException(StreamClosedException.For(_error)) : default;
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

            _connectCompletion!.SetResult(true);
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
