using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace Loop;

public partial class IOStream
{
    /// <summary>
    /// Upgrades this plain stream to TLS as a client (STARTTLS) and returns the new stream once
    /// the handshake is done. This stream is closed without closing the socket, and its close
    /// callback moves to the new stream, as do its buffer limits. Bytes already received and not
    /// read are handed to the TLS layer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream is not idle (a read or write is pending, or it is not connected).</exception>
    /// <exception cref="TlsHandshakeException">(In the task.) The handshake failed; the new stream is closed.</exception>
    public async ValueTask<SslIOStream> StartTlsAsync(TlsClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return await UpgradeAsync(tls => tls.AuthenticateAsClientAsync(options, cancellationToken)).ConfigureAwait(true);
    }

    /// <summary>
    /// Upgrades this plain stream to TLS as the server side of STARTTLS, as
    /// <see cref="StartTlsAsync(TlsClientOptions, CancellationToken)"/> does for a client.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream is not idle.</exception>
    /// <exception cref="TlsHandshakeException">(In the task.) The handshake failed; the new stream is closed.</exception>
    public async ValueTask<SslIOStream> StartTlsAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return await UpgradeAsync(tls => tls.AuthenticateAsServerAsync(options, cancellationToken)).ConfigureAwait(true);
    }

    /// <summary>Hands the socket to a new <see cref="SslIOStream"/> and runs its handshake.</summary>
    private async ValueTask<SslIOStream> UpgradeAsync(Func<SslIOStream, ValueTask> handshake)
    {
        SslIOStream tls = DetachForTls();
        try
        {
            // On the loop's context: a Task-backed await with ConfigureAwait(false) would resume
            // on the thread pool, and Close below must run on the loop.
            await handshake(tls).ConfigureAwait(true);
        }
        catch (Exception e)
        {
            // Options that cannot be loaded fail before the handshake starts: the new stream
            // owns the socket now, so it must be closed here or the descriptor would leak.
            tls.Close(e);
            throw;
        }

        return tls;
    }

    private SslIOStream DetachForTls()
    {
        if (this is SslIOStream)
        {
            throw new InvalidOperationException("The stream already speaks TLS.");
        }

        if (_closed || !_connected || _readKind != ReadKind.None || !_writeBuffer.IsEmpty || _writeHead is not null)
        {
            throw new InvalidOperationException("IOStream is not idle; cannot convert to TLS.");
        }

        if (_registered)
        {
            _registered = false;
            _loop.RemoveHandler(_fd);
        }

        byte[]? leftover = null;
        if (_buffered > 0 && _pipeReader.TryRead(out ReadResult result))
        {
            leftover = result.Buffer.ToArray();
            _pipeReader.AdvanceTo(result.Buffer.End);
            _buffered = 0;
        }

        Action? closeCallback = _closeCallback;
        _closeCallback = null;
        _closed = true;
        _pipeWriter.Complete();
        _writeBuffer.Clear();

        Socket socket = _socket;
        var tls = new SslIOStream(socket, _options, _loop, leftover, connected: true);
        tls.SetCloseCallback(closeCallback);
        return tls;
    }
}
