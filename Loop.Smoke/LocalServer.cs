using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Smoke;

/// <summary>
/// A small HTTP/1.1 server on 127.0.0.1 (a free port), one thread per connection, blocking
/// sockets: <c>GET /hello</c> answers "Hello, world" with a Content-Length and keeps the
/// connection alive; <c>POST /echo</c> sends the request body back chunked, in two chunks when it
/// can; anything else is 404. Request bodies come with a Content-Length. It runs off every loop
/// thread, as a remote server would.
/// </summary>
internal sealed class LocalServer : IDisposable
{
    private static readonly byte[] s_hello = "Hello, world"u8.ToArray();

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Thread _acceptThread;
    private volatile bool _stopping;
    private int _requests;

    public LocalServer()
    {
        _listener.Start();
        BaseUrl = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "smoke server" };
        _acceptThread.Start();
    }

    /// <summary>http://127.0.0.1:port, without a trailing slash.</summary>
    public string BaseUrl { get; }

    /// <summary>Requests answered so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public void Dispose()
    {
        _stopping = true;
        _listener.Stop();
        _acceptThread.Join();
    }

    private void AcceptLoop()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (SocketException) when (_stopping)
            {
                return;
            }
            catch (ObjectDisposedException) when (_stopping)
            {
                return;
            }

            new Thread(() => Serve(socket)) { IsBackground = true, Name = "smoke connection" }.Start();
        }
    }

    private void Serve(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        var buffered = new List<byte>();
        var chunk = new byte[4096];
        try
        {
            while (true)
            {
                int headEnd;
                while ((headEnd = IndexOfHeadEnd(buffered)) < 0)
                {
                    int n = stream.Read(chunk);
                    if (n == 0)
                    {
                        return;
                    }

                    buffered.AddRange(chunk.AsSpan(0, n));
                }

                string head = Encoding.ASCII.GetString(buffered.GetRange(0, headEnd).ToArray());
                buffered.RemoveRange(0, headEnd + 4);
                string[] lines = head.Split("\r\n");
                string[] requestLine = lines[0].Split(' ');
                int length = 0;
                bool close = false;
                foreach (string line in lines.AsSpan(1))
                {
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    string name = line[..colon].Trim();
                    string value = line[(colon + 1)..].Trim();
                    if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        length = int.Parse(value, CultureInfo.InvariantCulture);
                    }
                    else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && value.Contains("close", StringComparison.OrdinalIgnoreCase))
                    {
                        close = true;
                    }
                }

                while (buffered.Count < length)
                {
                    int n = stream.Read(chunk);
                    if (n == 0)
                    {
                        return;
                    }

                    buffered.AddRange(chunk.AsSpan(0, n));
                }

                byte[] body = buffered.GetRange(0, length).ToArray();
                buffered.RemoveRange(0, length);
                stream.Write(Respond(requestLine[0], requestLine[1], body, close));
                Interlocked.Increment(ref _requests);
                if (close)
                {
                    return;
                }
            }
        }
        catch (IOException)
        {
            // The client went away mid-request (a closed pooled connection): nothing to answer.
        }
    }

    private static byte[] Respond(string method, string target, byte[] body, bool close)
    {
        string connection = close ? "close" : "keep-alive";
        var response = new MemoryStream();
        if (method == "GET" && target == "/hello")
        {
            response.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {s_hello.Length}\r\nConnection: {connection}\r\n\r\n"));
            response.Write(s_hello);
        }
        else if (method == "POST" && target == "/echo")
        {
            response.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: {connection}\r\n\r\n"));
            int half = body.Length / 2;
            foreach (ReadOnlyMemory<byte> part in (ReadOnlyMemory<byte>[])[body.AsMemory(0, half), body.AsMemory(half)])
            {
                if (!part.IsEmpty)
                {
                    response.Write(Encoding.ASCII.GetBytes($"{part.Length:x}\r\n"));
                    response.Write(part.Span);
                    response.Write("\r\n"u8);
                }
            }

            response.Write("0\r\n\r\n"u8);
        }
        else
        {
            response.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: {connection}\r\n\r\n"));
        }

        return response.ToArray();
    }

    private static int IndexOfHeadEnd(List<byte> buffered)
    {
        for (int i = 0; i + 3 < buffered.Count; i++)
        {
            if (buffered[i] == '\r' && buffered[i + 1] == '\n' && buffered[i + 2] == '\r' && buffered[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
