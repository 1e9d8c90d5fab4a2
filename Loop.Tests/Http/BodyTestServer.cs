using System.Buffers;
using System.IO.Compression;
using System.Text;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// A keep-alive raw server for the body tests: the same bytes framed each way a body can be
/// (<c>/length</c>, <c>/chunked</c>, <c>/close</c>, <c>/gzip</c>), a redirect to <c>/length</c> with
/// a body of its own (<c>/redirect</c>), and a body cut short by a close (<c>/short</c>: half of
/// its announced length).
/// </summary>
internal sealed class BodyTestServer : IDisposable
{
    public static readonly string[] Framings = ["length", "chunked", "close", "gzip"];

    public const string RedirectBody = "the redirect's own body";

    private readonly RawHttpServer _server;

    public BodyTestServer(int size)
    {
        Body = new byte[size];
        new Random(size).NextBytes(Body);
        byte[] gzip = Gzip(Body);
        _server = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is { } head)
            {
                string path = head[(head.IndexOf(' ') + 1)..head.IndexOf(' ', head.IndexOf(' ') + 1)];
                switch (path)
                {
                    case "/length":
                        await connection.WriteAsync(Head($"Content-Length: {Body.Length}"));
                        await connection.WriteAsync(Body);
                        break;
                    case "/chunked":
                        await connection.WriteAsync(Head("Transfer-Encoding: chunked"));
                        await connection.WriteAsync(Chunked(Body));
                        break;
                    case "/close":
                        await connection.WriteAsync(Head("Connection: close"));
                        await connection.WriteAsync(Body);
                        return;
                    case "/gzip":
                        await connection.WriteAsync(Head($"Content-Encoding: gzip\r\nContent-Length: {gzip.Length}"));
                        await connection.WriteAsync(gzip);
                        break;
                    case "/redirect":
                        await connection.WriteAsync($"HTTP/1.1 302 Found\r\nLocation: /length\r\nContent-Length: {RedirectBody.Length}\r\n\r\n{RedirectBody}");
                        break;
                    case "/short":
                        await connection.WriteAsync(Head($"Content-Length: {Body.Length}"));
                        await connection.WriteAsync(Body[..(Body.Length / 2)]);
                        return;
                    default:
                        await connection.WriteAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                        break;
                }
            }
        });
    }

    /// <summary>The body every path sends (decoded).</summary>
    public byte[] Body { get; }

    public string Url(string path) => _server.Url(path);

    public void Dispose() => _server.Dispose();

    private static string Head(string framing) => $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n";

    private static byte[] Chunked(byte[] body)
    {
        var output = new MemoryStream();
        int[] sizes = [1, 4000, 16000];
        int offset = 0;
        for (int i = 0; offset < body.Length; i++)
        {
            int n = Math.Min(sizes[i % sizes.Length], body.Length - offset);
            output.Write(Encoding.ASCII.GetBytes($"{n:x}\r\n"));
            output.Write(body, offset, n);
            output.Write("\r\n"u8);
            offset += n;
        }

        output.Write("0\r\n\r\n"u8);
        return output.ToArray();
    }

    private static byte[] Gzip(byte[] body)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(body);
        }

        return output.ToArray();
    }
}

/// <summary>
/// <see cref="ArrayPool{T}.Shared"/> with counts: what was rented and not returned, and any
/// array returned twice or never rented (a client's <c>BodyPool</c> in the tests).
/// </summary>
internal sealed class CountingPool : ArrayPool<byte>
{
    private readonly HashSet<byte[]> _out = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();

    public int Rents { get; private set; }

    public int Returns { get; private set; }

    public int BadReturns { get; private set; }

    public int Outstanding
    {
        get
        {
            lock (_lock)
            {
                return _out.Count;
            }
        }
    }

    public override byte[] Rent(int minimumLength)
    {
        byte[] array = Shared.Rent(minimumLength);
        lock (_lock)
        {
            Rents++;
            _out.Add(array);
        }

        return array;
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        lock (_lock)
        {
            Returns++;
            if (!_out.Remove(array))
            {
                BadReturns++;
                return;
            }
        }

        Shared.Return(array, clearArray);
    }
}
