using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Soak;

/// <summary>
/// The soak's server: a minimal HTTP/1.1 responder on 127.0.0.1 on the thread pool, as cheap as
/// can be so the machine's time goes to the client under test. Every request head (a GET, no
/// body) gets the same small response; in close mode the response says <c>Connection: close</c>
/// and the connection is closed after it. Shared by <c>make soak</c> (Loop.Benchmarks links this
/// file) and the short soak test.
/// </summary>
public sealed class SoakServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly byte[] _response;
    private readonly bool _close;
    private int _open;
    private long _accepted;

    private SoakServer(bool close)
    {
        _close = close;
        _response = Encoding.ASCII.GetBytes(close
            ? "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello world!"
            : "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello world!");
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    /// <summary>The port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The URL every soak request fetches.</summary>
    public string Url => $"http://127.0.0.1:{Port}/hello";

    /// <summary>Connections open on the server's side now (thread-safe).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Connections accepted since the start (thread-safe).</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Starts a server; with <paramref name="close"/> every response closes its connection.</summary>
    public static SoakServer Start(bool close)
    {
        var server = new SoakServer(close);
        _ = Task.Run(server.AcceptAsync);
        return server;
    }

    /// <summary>Stops accepting and closes every connection (they end as their next receive fails).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _open);
            Interlocked.Increment(ref _accepted);
            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        byte[] buffer = new byte[4096];
        // How far into "\r\n\r\n" the bytes so far have matched: a head may arrive in pieces.
        int matched = 0;
        try
        {
            socket.NoDelay = true;
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }

                int heads = 0;
                for (int i = 0; i < n; i++)
                {
                    byte b = buffer[i];
                    matched = b == (matched % 2 == 0 ? (byte)'\r' : (byte)'\n') ? matched + 1 : b == '\r' ? 1 : 0;
                    if (matched == 4)
                    {
                        heads++;
                        matched = 0;
                    }
                }

                for (int i = 0; i < heads; i++)
                {
                    await socket.SendAsync(_response, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }

                if (_close && heads > 0)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the server is stopping: the connection just ends.
        }
        finally
        {
            socket.Dispose();
            Interlocked.Decrement(ref _open);
        }
    }
}
