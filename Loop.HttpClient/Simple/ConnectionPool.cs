using System.Net.Security;

namespace Loop.Http.Simple;

/// <summary>
/// What makes two connections interchangeable: where they go (directly or through which proxy)
/// and the settings they were made with. A value: finding a pooled connection allocates nothing.
/// </summary>
internal readonly record struct OriginKey(
    string SchemeHostPort,
    string? ProxyHost,
    int ProxyPort,
    string? ProxyUsername,
    string? ProxyPassword,
    string? NetworkInterface,
    bool AllowIpv6,
    bool ValidateCert,
    string? CaCerts,
    string? ClientCert,
    string? ClientKey,
    SslClientAuthenticationOptions? SslOptions);

/// <summary>
/// Idle keep-alive connections, per origin, most recently used first. A connection waits here
/// with reading on, so a peer that closes it is noticed (the stream closes) before it is handed
/// out again. Keeping and taking a connection allocates nothing.
/// </summary>
internal sealed class ConnectionPool(IOLoop loop, TimeSpan idleTimeout, int maxPerOrigin)
{
    private readonly Dictionary<OriginKey, List<Http1Connection>> _idle = [];

    public int IdleCount { get; private set; }

    /// <summary>A live idle connection for <paramref name="origin"/>, or null. Dead ones found on the way are closed.</summary>
    public Http1Connection? Take(in OriginKey origin)
    {
        if (!_idle.TryGetValue(origin, out List<Http1Connection>? list))
        {
            return null;
        }

        while (list.Count > 0)
        {
            Http1Connection connection = list[^1];
            list.RemoveAt(list.Count - 1);
            IdleCount--;
            loop.RemoveTimeout(connection.IdleTimer);
            connection.Stream.SetCloseCallback(null);
            if (!connection.Stream.IsClosed && connection.Stream.BufferedByteCount == 0 && !SentUnasked(connection.Stream))
            {
                return connection;
            }

            // Closed by the peer, or it sent something unasked for: not a connection to reuse.
            connection.Stream.Close();
        }

        return null;
    }

    /// <summary>
    /// Whether the server wrote to (or closed) an idle plain connection: an idle stream reads
    /// nothing, so what the server sent after its response waits in the socket, and read as the
    /// answer to the next request it would pass a smuggled response off as that request's
    /// (SocketsHttpHandler checks a connection the same way before reusing it). One poll(2)
    /// with no wait. A TLS stream reads ahead on its own, so what arrives shows in its buffer;
    /// its socket may also hold records that are not data (TLS 1.3 session tickets).
    /// </summary>
    private static bool SentUnasked(IOStream stream)
    {
        if (stream is SslIOStream)
        {
            return false;
        }

        try
        {
            return stream.Socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // The socket failed: not one to reuse.
            return true;
        }
    }

    /// <summary>Keeps <paramref name="connection"/> for reuse, or closes it when keeping is off or its origin has its fill.</summary>
    public void Return(Http1Connection connection)
    {
        if (idleTimeout <= TimeSpan.Zero || connection.Stream.IsClosed)
        {
            connection.Stream.Close();
            return;
        }

        if (!_idle.TryGetValue(connection.Origin, out List<Http1Connection>? list))
        {
            list = [];
            _idle[connection.Origin] = list;
        }

        if (list.Count >= maxPerOrigin)
        {
            // Keep the most recent: the oldest has been idle longest and is the likeliest to be dropped by the server.
            Http1Connection oldest = list[0];
            list.RemoveAt(0);
            IdleCount--;
            Forget(oldest);
        }

        connection.IdleTimer = loop.CallLater(idleTimeout, static state => ((Http1Connection)state!).OnIdleClose!(), connection);
        connection.OnIdleClose ??= IdleCloseFor(connection);
        connection.Stream.SetCloseCallback(connection.OnIdleClose);
        list.Add(connection);
        IdleCount++;
    }

    /// <summary>The connection's close callback while idle: made once per connection (in its own method, so Return itself allocates no closure).</summary>
    private Action IdleCloseFor(Http1Connection connection) => () => Remove(connection);

    /// <summary>Closes every idle connection.</summary>
    public void Clear()
    {
        foreach (List<Http1Connection> list in _idle.Values)
        {
            foreach (Http1Connection connection in list)
            {
                Forget(connection);
            }
        }

        _idle.Clear();
        IdleCount = 0;
    }

    private void Forget(Http1Connection connection)
    {
        loop.RemoveTimeout(connection.IdleTimer);
        connection.Stream.SetCloseCallback(null);
        connection.Stream.Close();
    }

    /// <summary>The idle time ran out or the peer closed: drop it.</summary>
    private void Remove(Http1Connection connection)
    {
        if (_idle.TryGetValue(connection.Origin, out List<Http1Connection>? list) && list.Remove(connection))
        {
            IdleCount--;
            Forget(connection);
        }
    }
}
