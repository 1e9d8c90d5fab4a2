using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Tests.Support;

/// <summary>
/// A raw-socket server on 127.0.0.1 for responses no real server would send: each connection's
/// request head (and a body of its Content-Length) is read and recorded, then the handler writes
/// whatever bytes it likes and the connection is closed unless the handler keeps it.
/// </summary>
public sealed class RawHttpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<Connection, Task> _handler;
    private readonly ConcurrentBag<Socket> _kept = [];

    private RawHttpServer(Func<Connection, Task> handler)
    {
        _handler = handler;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>Every request head received, in order (Latin-1 text).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Connections accepted so far.</summary>
    public int ConnectionCount => _connectionCount;

    private int _connectionCount;

    public string Url(string path = "/") => $"http://127.0.0.1:{Port}{path}";

    /// <summary>A server that answers every request with <paramref name="response"/> and closes.</summary>
    public static RawHttpServer Responding(string response) => Start(async connection =>
    {
        await connection.ReadRequestAsync();
        await connection.WriteAsync(response);
    });

    public static RawHttpServer Start(Func<Connection, Task> handler)
    {
        var server = new RawHttpServer(handler);
        _ = Task.Run(() => AcceptLoop.RunAsync(server._listener, server._stop.Token, server.ServeAsync));
        return server;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (Socket socket in _kept)
        {
            socket.Dispose();
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        Interlocked.Increment(ref _connectionCount);
        var connection = new Connection(this, socket);
        try
        {
            await _handler(connection);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away; that is what some tests provoke.
        }
        finally
        {
            if (connection.KeepOpen)
            {
                _kept.Add(socket);
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>One accepted connection.</summary>
    public sealed class Connection(RawHttpServer server, Socket socket)
    {
        private readonly List<byte> _pending = [];

        public Socket Socket => socket;

        /// <summary>Leave the socket open when the handler returns (until the server is disposed).</summary>
        public bool KeepOpen { get; set; }

        /// <summary>Reads one request head (and its Content-Length body); returns the head, or null at the end of the stream.</summary>
        public async Task<string?> ReadRequestAsync(bool readBody = true)
        {
            int end;
            var buffer = new byte[4096];
            while ((end = IndexOfHeadEnd()) < 0)
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None, server._stop.Token);
                if (n == 0)
                {
                    return null;
                }

                _pending.AddRange(buffer.AsSpan(0, n));
            }

            string head = Encoding.Latin1.GetString(_pending.GetRange(0, end).ToArray());
            _pending.RemoveRange(0, end);
            server.Requests.Enqueue(head);
            int length = ContentLength(head);
            if (readBody && length > 0)
            {
                while (_pending.Count < length)
                {
                    int n = await socket.ReceiveAsync(buffer, SocketFlags.None, server._stop.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    _pending.AddRange(buffer.AsSpan(0, n));
                }

                _pending.RemoveRange(0, Math.Min(length, _pending.Count));
            }

            return head;
        }

        public async Task WriteAsync(string text) => await socket.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None);

        public async Task WriteAsync(byte[] data) => await socket.SendAsync(data, SocketFlags.None);

        private int IndexOfHeadEnd()
        {
            for (int i = 3; i < _pending.Count; i++)
            {
                if (_pending[i] == '\n' && _pending[i - 1] == '\r' && _pending[i - 2] == '\n' && _pending[i - 3] == '\r')
                {
                    return i + 1;
                }
            }

            return -1;
        }

        private static int ContentLength(string head)
        {
            foreach (string line in head.Split("\r\n"))
            {
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    return int.Parse(line["Content-Length:".Length..].Trim());
                }
            }

            return 0;
        }
    }
}
