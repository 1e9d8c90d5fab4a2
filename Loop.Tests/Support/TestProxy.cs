using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Tests.Support;

/// <summary>
/// An HTTP proxy on 127.0.0.1 on the thread pool: absolute-form requests are passed to their
/// origin (the rest of the connection is relayed as it is), <c>CONNECT host:port</c> opens a
/// tunnel, and with credentials set every first request must carry them in
/// <c>Proxy-Authorization</c> or gets a 407. Records what it saw.
/// </summary>
public sealed class TestProxy : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly string? _expectedAuthorization;
    private readonly ConcurrentBag<Socket> _sockets = [];
    private int _connectionCount;

    private TestProxy(string? user, string? password)
    {
        _expectedAuthorization = user is null ? null : "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>The first request line of each connection (the absolute-form request, or the CONNECT).</summary>
    public ConcurrentQueue<string> RequestLines { get; } = new();

    /// <summary>Connections accepted so far.</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>Starts a proxy; with <paramref name="user"/> set it requires those basic credentials.</summary>
    public static TestProxy Start(string? user = null, string? password = null)
    {
        var proxy = new TestProxy(user, password);
        _ = Task.Run(() => AcceptLoop.RunAsync(proxy._listener, proxy._stop.Token, proxy.ServeAsync));
        return proxy;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (Socket socket in _sockets)
        {
            socket.Dispose();
        }
    }

    private async Task ServeAsync(Socket client)
    {
        Interlocked.Increment(ref _connectionCount);
        _sockets.Add(client);
        try
        {
            (string head, byte[] rest) = await ReadHeadAsync(client);
            string[] lines = head.Split("\r\n");
            string requestLine = lines[0];
            RequestLines.Enqueue(requestLine);
            string? authorization = lines.Skip(1).Select(line => line.Split(':', 2)).Where(field => field.Length == 2 && field[0].Trim().Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)).Select(field => field[1].Trim()).FirstOrDefault();
            if (_expectedAuthorization is not null && authorization != _expectedAuthorization)
            {
                await client.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                return;
            }

            string[] parts = requestLine.Split(' ');
            bool tunnel = parts[0] == "CONNECT";
            Uri target = tunnel ? new Uri($"http://{parts[1]}") : new Uri(parts[1]);
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _sockets.Add(upstream);
            await upstream.ConnectAsync(target.IdnHost == "localhost" ? IPAddress.Loopback : IPAddress.Parse(target.IdnHost), target.Port);
            if (tunnel)
            {
                await client.SendAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray());
            }
            else
            {
                // The origin gets the request as it came (servers accept the absolute form).
                await upstream.SendAsync(Encoding.Latin1.GetBytes(head + "\r\n\r\n"));
            }

            if (rest.Length > 0)
            {
                await upstream.SendAsync(rest);
            }

            await Task.WhenAny(RelayAsync(client, upstream), RelayAsync(upstream, client));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private static async Task RelayAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, n));
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>The request head (without the empty line) and any bytes read past it.</summary>
    private static async Task<(string Head, byte[] Extra)> ReadHeadAsync(Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer);
            if (n == 0)
            {
                throw new IOException("The client closed before its request head ended.");
            }

            received.AddRange(buffer.AsSpan(0, n));
            byte[] all = [.. received];
            int end = all.AsSpan().IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return (Encoding.Latin1.GetString(all, 0, end), all[(end + 4)..]);
            }
        }
    }
}
