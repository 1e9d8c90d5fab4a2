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
    SslClientAuthenticationOptions? SslOptions)
{
    /// <summary>Field by field: strings ordinally, the TLS options by reference (as the synthesized equality did).</summary>
    public bool Equals(OriginKey other) => Same(in this, in other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.Add(SchemeHostPort);
        hash.Add(ProxyHost);
        hash.Add(ProxyPort);
        hash.Add(ProxyUsername);
        hash.Add(ProxyPassword);
        hash.Add(NetworkInterface);
        hash.Add(AllowIpv6);
        hash.Add(ValidateCert);
        hash.Add(CaCerts);
        hash.Add(ClientCert);
        hash.Add(ClientKey);
        hash.Add(SslOptions);
        return hash.ToHashCode();
    }

    /// <summary>
    /// <see cref="Equals(OriginKey)"/> without copying either key, and with no call through a
    /// comparer: every pooled fetch asks it twice, and the synthesized equality, as the
    /// precompiled code has it, copied the 80-byte key and made a virtual call to
    /// <c>EqualityComparer&lt;T&gt;.Default</c> for each field.
    /// </summary>
    internal static bool Same(in OriginKey a, in OriginKey b) =>
        string.Equals(a.SchemeHostPort, b.SchemeHostPort)
        && a.ProxyPort == b.ProxyPort
        && a.AllowIpv6 == b.AllowIpv6
        && a.ValidateCert == b.ValidateCert
        && ReferenceEquals(a.SslOptions, b.SslOptions)
        && string.Equals(a.ProxyHost, b.ProxyHost)
        && string.Equals(a.ProxyUsername, b.ProxyUsername)
        && string.Equals(a.ProxyPassword, b.ProxyPassword)
        && string.Equals(a.NetworkInterface, b.NetworkInterface)
        && string.Equals(a.CaCerts, b.CaCerts)
        && string.Equals(a.ClientCert, b.ClientCert)
        && string.Equals(a.ClientKey, b.ClientKey);
}

/// <summary>
/// Idle keep-alive connections, per origin, most recently used first. A connection waits here
/// with reading on, so a peer that closes it is noticed (the stream closes) before it is handed
/// out again. Keeping and taking a connection allocates nothing.
/// </summary>
internal sealed class ConnectionPool(IOLoop loop, TimeSpan idleTimeout, int maxPerOrigin)
{
    private readonly Dictionary<OriginKey, List<Http1Connection>> _idle = [];
    private readonly double _idleSeconds = idleTimeout.TotalSeconds;

    // The origin last looked up and its list: a program mostly fetches from one origin at a
    // time, and comparing keys made of the same strings is cheaper than hashing one.
    private OriginKey _lastOrigin;
    private List<Http1Connection>? _lastList;

    /// <summary>Idle connections held now, all origins together.</summary>
    public int IdleCount { get; private set; }

    /// <summary>
    /// Takes the most recently returned idle connection to <paramref name="origin"/> that can
    /// still be used, closing those that cannot (the server closed them, or sent something
    /// unasked for); null when there is none.
    /// </summary>
    public Http1Connection? Take(in OriginKey origin)
    {
        List<Http1Connection>? list = ListFor(origin, create: false);
        if (list is null)
        {
            return null;
        }

        while (list.Count > 0)
        {
            Http1Connection connection = list[^1];
            list.RemoveAt(list.Count - 1);
            IdleCount--;
            connection.Stream.SetCloseCallback(null);
            if (!connection.Stream.IsClosed && connection.Stream.BufferedByteCount == 0
                && (connection.ReturnedAt == loop.IterationCount || !SentUnasked(connection.Stream)))
            {
                // Its idle timer stays armed: when it fires, the connection is in use and it lapses.
                connection.OnActive();
                return connection;
            }

            // Closed by the peer, or it sent something unasked for: not a connection to reuse.
            connection.Discard();
        }

        return null;
    }

    /// <summary>
    /// Whether the server sent something on an idle plain connection (its close, or bytes nobody
    /// asked for) that the loop has not seen yet: one poll(2). Over TLS the stream's buffer
    /// and closed state are all there is to go by. Not asked when the connection was returned
    /// since the loop last waited for I/O (the same <see cref="IOLoop.IterationCount"/>): the
    /// loop has seen everything the poller had then, and what came since is no more likely
    /// than what may come just after the check (the retry on a dropped connection is for that).
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

    /// <summary>
    /// Keeps <paramref name="connection"/> for its origin (at most <c>maxPerOrigin</c> of them:
    /// the oldest goes), closing it after <c>idleTimeout</c> unused or when the server closes it.
    /// </summary>
    public void Return(Http1Connection connection)
    {
        if (idleTimeout <= TimeSpan.Zero || connection.Stream.IsClosed)
        {
            connection.Discard();
            return;
        }

        List<Http1Connection> list = ListFor(connection.Origin, create: true)!;
        if (list.Count >= maxPerOrigin)
        {
            // Keep the most recent: the oldest has been idle longest and is the likeliest to be dropped by the server.
            Http1Connection oldest = list[0];
            list.RemoveAt(0);
            IdleCount--;
            Forget(oldest);
        }

        connection.IdleSince = loop.IterationTime;
        connection.ReturnedAt = loop.IterationCount;
        if (!connection.IdleTimerArmed)
        {
            // One timer per connection, armed once for all the times it is returned before it
            // fires (see OnIdleTimer): a keep-alive request does not make and remove one.
            connection.IdleTimerArmed = true;
            connection.OnIdleTimeout ??= IdleTimerCallback(connection);
            connection.IdleTimer = loop.CallLater(idleTimeout, static state => ((Http1Connection)state!).OnIdleTimeout!(), connection);
        }

        connection.OnIdleClose ??= IdleCloseCallback(connection);
        connection.Stream.SetCloseCallback(connection.OnIdleClose);
        list.Add(connection);
        IdleCount++;
        connection.OnIdle();
    }

    // The callbacks a connection keeps, made once for it. (Made in methods of their own: a lambda
    // in Return would allocate its closure on every call, used or not.)
    private Action IdleTimerCallback(Http1Connection connection) => () => OnIdleTimer(connection);

    private Action IdleCloseCallback(Http1Connection connection) => () => OnIdleStreamClosed(connection);

    /// <summary>An idle connection's stream closed (the server closed it): forget it.</summary>
    private void OnIdleStreamClosed(Http1Connection connection)
    {
        if (_idle.TryGetValue(connection.Origin, out List<Http1Connection>? list) && list.Remove(connection))
        {
            IdleCount--;
            Forget(connection);
        }
    }

    /// <summary>The idle timer fired: forget the connection if it is idle and has been for long enough.</summary>
    private void OnIdleTimer(Http1Connection connection)
    {
        connection.IdleTimerArmed = false;
        connection.IdleTimer = default;
        if (!_idle.TryGetValue(connection.Origin, out List<Http1Connection>? list) || !list.Contains(connection))
        {
            // In use (it was taken since): its next return arms the timer again.
            return;
        }

        double due = connection.IdleSince + _idleSeconds;
        if (!connection.Stream.IsClosed && loop.IterationTime < due)
        {
            // Used and returned since the timer was armed: wait for the rest of its idle time.
            connection.IdleTimerArmed = true;
            connection.IdleTimer = loop.CallAt(due, static state => ((Http1Connection)state!).OnIdleTimeout!(), connection);
            return;
        }

        list.Remove(connection);
        IdleCount--;
        Forget(connection);
    }

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
        _lastList = null;
        _lastOrigin = default;
        IdleCount = 0;
    }

    private List<Http1Connection>? ListFor(in OriginKey origin, bool create)
    {
        if (_lastList is not null && OriginKey.Same(in _lastOrigin, in origin))
        {
            return _lastList;
        }

        if (!_idle.TryGetValue(origin, out List<Http1Connection>? list))
        {
            if (!create)
            {
                return null;
            }

            list = [];
            _idle[origin] = list;
        }

        _lastOrigin = origin;
        _lastList = list;
        return list;
    }

    private static void Forget(Http1Connection connection)
    {
        connection.Stream.SetCloseCallback(null);
        connection.Discard();
    }
}
