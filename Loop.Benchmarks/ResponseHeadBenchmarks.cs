using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Loop.Http.Simple;

namespace Loop.Benchmarks;

/// <summary>
/// The simple client's HTTP/1 response-head parser on heads that real servers send: finding the
/// end of the block in the read buffer (<see cref="ResponseHead.FindEnd"/>) and parsing it into
/// the connection's reused <see cref="ResponseHead"/>, as each response on a keep-alive
/// connection is. Results read per response head.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet runs a generated subclass.</remarks>
[MemoryDiagnoser]
public class ResponseHeadBenchmarks
{
    private static readonly Dictionary<string, string> s_heads = new()
    {
        // nginx's answer to /small in the load suite.
        ["nginx"] =
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 21:00:00 GMT\r\n" +
            "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n",
        // Kestrel writing a response without a declared length.
        ["kestrel"] =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sun, 29 Nov 2026 21:00:00 GMT\r\n" +
            "Server: Kestrel\r\nTransfer-Encoding: chunked\r\n\r\n",
        // A page behind a CDN: caching, security and cookie fields.
        ["cdn"] =
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 48213\r\nConnection: keep-alive\r\n" +
            "Date: Sun, 29 Nov 2026 21:00:00 GMT\r\nServer: nginx\r\nCache-Control: public, max-age=300\r\n" +
            "ETag: \"5f1e-63a9b7c2d4e80\"\r\nLast-Modified: Sat, 28 Nov 2026 10:12:40 GMT\r\nVary: Accept-Encoding\r\n" +
            "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\nX-Content-Type-Options: nosniff\r\n" +
            "X-Frame-Options: SAMEORIGIN\r\nSet-Cookie: session=3f9a1c2e7b; Path=/; HttpOnly; Secure; SameSite=Lax\r\n" +
            "Age: 42\r\nVia: 1.1 varnish\r\nX-Cache: HIT\r\nAccept-Ranges: bytes\r\n\r\n",
    };

    private readonly ResponseHead _head = new();
    private ReadOnlySequence<byte> _buffer;

    /// <summary>Which server's head.</summary>
    [Params("nginx", "kestrel", "cdn")]
    public string Server { get; set; } = "nginx";

    [GlobalSetup]
    public void Setup()
    {
        // The head followed by the start of a body, as it sits in the read buffer.
        _buffer = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(s_heads[Server] + "Hello, world!"));
    }

    [Benchmark]
    public int FindEndAndParse()
    {
        long end = ResponseHead.FindEnd(_buffer, out long skipped);
        _head.Parse(_buffer.FirstSpan.Slice((int)skipped, (int)(end - skipped)), keepRawLines: false);
        return _head.Code;
    }
}
