namespace Loop.Http.Simple;

/// <summary>
/// Idle keep-alive connections, per origin (scheme, host, port and the settings that shape a
/// connection), most recently used first. A connection waits here with reading on, so a peer
/// that closes it is noticed (the stream closes) before it is handed out again.
/// </summary>
internal sealed class ConnectionPool(IOLoop loop, TimeSpan idleTimeout, int maxPerOrigin)
{
    private readonly Dictionary<string, List<IdleConnection>> _idle = new(StringComparer.Ordinal);

    public int IdleCount { get; private set; }

    /// <summary>A live idle connection for <paramref name="origin"/>, or null. Dead ones found on the way are closed.</summary>
    public IOStream? Take(string origin)
    {
        if (!_idle.TryGetValue(origin, out List<IdleConnection>? list))
        {
            return null;
        }

        while (list.Count > 0)
        {
            IdleConnection idle = list[^1];
            list.RemoveAt(list.Count - 1);
            IdleCount--;
            loop.RemoveTimeout(idle.Timer);
            idle.Stream.SetCloseCallback(null);
            if (!idle.Stream.IsClosed && idle.Stream.BufferedByteCount == 0)
            {
                return idle.Stream;
            }

            // Closed by the peer, or it sent something unasked for: not a connection to reuse.
            idle.Stream.Close();
        }

        return null;
    }

    /// <summary>Keeps <paramref name="stream"/> for reuse, or closes it when keeping is off or the origin has its fill.</summary>
    public void Return(string origin, IOStream stream)
    {
        if (idleTimeout <= TimeSpan.Zero || stream.IsClosed)
        {
            stream.Close();
            return;
        }

        if (!_idle.TryGetValue(origin, out List<IdleConnection>? list))
        {
            list = [];
            _idle[origin] = list;
        }

        if (list.Count >= maxPerOrigin)
        {
            // Keep the most recent: the oldest has been idle longest and is the likeliest to be dropped by the server.
            IdleConnection oldest = list[0];
            list.RemoveAt(0);
            IdleCount--;
            Forget(oldest);
        }

        var idle = new IdleConnection(this, origin, stream);
        idle.Timer = loop.CallLater(idleTimeout, static state => ((IdleConnection)state!).Expire(), idle);
        stream.SetCloseCallback(idle.Expire);
        list.Add(idle);
        IdleCount++;
    }

    /// <summary>Closes every idle connection.</summary>
    public void Clear()
    {
        foreach (List<IdleConnection> list in _idle.Values)
        {
            foreach (IdleConnection idle in list)
            {
                Forget(idle);
            }
        }

        _idle.Clear();
        IdleCount = 0;
    }

    private void Forget(IdleConnection idle)
    {
        loop.RemoveTimeout(idle.Timer);
        idle.Stream.SetCloseCallback(null);
        idle.Stream.Close();
    }

    private void Remove(IdleConnection idle)
    {
        if (_idle.TryGetValue(idle.Origin, out List<IdleConnection>? list) && list.Remove(idle))
        {
            IdleCount--;
            Forget(idle);
        }
    }

    private sealed class IdleConnection(ConnectionPool pool, string origin, IOStream stream)
    {
        public readonly string Origin = origin;
        public readonly IOStream Stream = stream;
        public TimeoutHandle Timer;

        /// <summary>The idle time ran out or the peer closed: drop it.</summary>
        public void Expire() => pool.Remove(this);
    }
}
