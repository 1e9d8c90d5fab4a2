using System.Diagnostics;

namespace Loop.Http.Simple;

/// <summary>
/// The connection's part in the <c>Loop.Http</c> meter: counted in <c>http.client.open_connections</c>
/// as active while it runs an exchange and idle while the pool keeps it, and its lifetime
/// recorded as <c>http.client.connection.duration</c> when it closes. A connection made while
/// no one listened is never counted (so a listener that comes later sees balanced counts).
/// </summary>
internal sealed partial class Http1Connection
{
    private const byte NotCounted = 0;
    private const byte CountedActive = 1;
    private const byte CountedIdle = 2;

    private long _openedAt;
    private byte _counted;
    private bool _timed;
    private ConnectionTags? _tags;

    /// <summary>The connection is new and about to run its first exchange.</summary>
    public void OnOpened(RequestUrl url)
    {
        bool count = HttpTelemetry.OpenConnections.Enabled;
        _timed = HttpTelemetry.ConnectionDuration.Enabled;
        if (!count && !_timed)
        {
            // No clock read either: only the duration metric uses the opening time.
            return;
        }

        _openedAt = Stopwatch.GetTimestamp();

        string? peer = null;
        try
        {
            peer = (Stream.Socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address.ToString();
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Already reset: no peer address to report.
        }
        catch (ObjectDisposedException)
        {
            // Already closed: likewise.
        }

        _tags = new ConnectionTags(url.Host, url.Port, url.IsHttps, peer);
        if (count)
        {
            HttpTelemetry.OpenConnections.Add(1, _tags.WithState("active"));
            _counted = CountedActive;
        }
    }

    /// <summary>The pool keeps the connection, idle.</summary>
    public void OnIdle() => Move(CountedActive, CountedIdle, "active", "idle");

    /// <summary>The pool hands the connection to an exchange.</summary>
    public void OnActive() => Move(CountedIdle, CountedActive, "idle", "active");

    /// <summary>The connection closes for good (<see cref="Discard"/>): counted out, its lifetime recorded once.</summary>
    private void OnClosed()
    {
        if (_tags is not { } tags)
        {
            return;
        }

        if (_counted != NotCounted)
        {
            HttpTelemetry.OpenConnections.Add(-1, tags.WithState(_counted == CountedActive ? "active" : "idle"));
            _counted = NotCounted;
        }

        if (_timed)
        {
            _timed = false;
            HttpTelemetry.ConnectionDuration.Record(Stopwatch.GetElapsedTime(_openedAt).TotalSeconds, tags.Tags);
        }
    }

    private void Move(byte from, byte to, string fromState, string toState)
    {
        if (_counted != from || _tags is not { } tags)
        {
            return;
        }

        HttpTelemetry.OpenConnections.Add(-1, tags.WithState(fromState));
        HttpTelemetry.OpenConnections.Add(1, tags.WithState(toState));
        _counted = to;
    }

    /// <summary>A connection's attributes, made once for it (only while someone listens).</summary>
    private sealed class ConnectionTags(string host, int port, bool https, string? peer)
    {
        public TagList Tags { get; } = HttpTelemetry.ConnectionTags(host, port, https, peer, "1.1");

        public TagList WithState(string state)
        {
            TagList tags = Tags;
            tags.Add("http.connection.state", state);
            return tags;
        }
    }
}
