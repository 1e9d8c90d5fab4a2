using System.Buffers;
using System.IO.Compression;
using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// The simple client receives the rest of a large Content-Length body straight into the
/// response's array (plain or pooled), not through the connection's read buffer: the bytes
/// arrive whole, a close or a stall mid-body fails as for any body, and bodies that are decoded,
/// streamed or written elsewhere take the usual path.
/// </summary>
public sealed class SimpleBodyInPlaceTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    private const int Size = 1024 * 1024;

    private static readonly byte[] s_body = RandomBody(Size, 17);

    private SimpleAsyncHttpClient Simple => (SimpleAsyncHttpClient)Client;

    [TestCase(false)]
    [TestCase(true)]
    public void LargeBody_IsReceivedInPlace_Whole_OnAKeptConnection(bool pooled) => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync(Concat(Head(Size), s_body));
            }
        });

        for (int i = 0; i < 2; i++)
        {
            long before = Simple.InPlaceBodyBytes;
            using HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url()) { PooledBody = pooled });
            Assert.That(response.BodySpan.SequenceEqual(s_body), Is.True, "the body arrived whole");
            Assert.That(response.IsBodyPooled, Is.EqualTo(pooled));
            Assert.That(Simple.InPlaceBodyBytes - before, Is.GreaterThan(Size / 2), "most of it went straight into the response's array");
        }

        Assert.That(raw.ConnectionCount, Is.EqualTo(1), "the connection was kept after each body");
    });

    [TestCase(false)]
    [TestCase(true)]
    public void BytesPastALargeBody_AreSeen_TheConnectionIsNotKept_AndTheNextFetchGetsItsOwnAnswer(bool pooled) => Run(async () =>
    {
        // A body received mostly in place, with an answer no request asked for right behind it.
        byte[] body = s_body.AsSpan(0, 300_000).ToArray();
        byte[] unasked = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!");
        int connections = 0;
        using var raw = RawHttpServer.Start(async connection =>
        {
            bool first = Interlocked.Increment(ref connections) == 1;
            if (await connection.ReadRequestAsync() is null)
            {
                return;
            }

            if (first)
            {
                // The body but its last 32 KiB, then (once the client waits for them, received
                // in place) those and the unasked answer in one send.
                await connection.WriteAsync([.. Head(body.Length), .. body.AsSpan(0, body.Length - 32 * 1024)]);
                await Task.Delay(200); // a deliberately slow server: the client drains the first part and waits
                await connection.WriteAsync([.. body.AsSpan(body.Length - 32 * 1024), .. unasked]);
                connection.KeepOpen = true;
                return;
            }

            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nGOOD!");
        });

        // What the server sent past the body must be seen as the exchange ends, so that the
        // connection is not kept: a fetch started before the loop polls again would take it.
        using HttpResponse first = await Client.FetchAsync(new HttpRequest(raw.Url()) { PooledBody = pooled });
        Assert.That(first.BodySpan.SequenceEqual(body), Is.True);
        Assert.That(Simple.InPlaceBodyBytes, Is.GreaterThan(0));
        Assert.That(Simple.IdleConnectionCount, Is.Zero, "the connection was not kept");
        using HttpResponse second = await Client.FetchAsync(new HttpRequest(raw.Url()) { PooledBody = pooled });
        Assert.That(Encoding.ASCII.GetString(second.BodySpan), Is.EqualTo("GOOD!"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(2));
    });

    [TestCase(false)]
    [TestCase(true)]
    public void OverTls_LargeBody_IsReadIntoItsArray_Whole(bool pooled) => Run(async () =>
    {
        // A TLS stream decrypts into its buffer first: the read into the array copies from there.
        const int size = 1_000_000;
        using HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.HttpsUrl($"/large?size={size}")) { ValidateCert = false, PooledBody = pooled });
        Assert.That(response.BodySpan.Length, Is.EqualTo(size));
        Assert.That(response.BodySpan.ContainsAnyExcept((byte)'a'), Is.False);
        Assert.That(Simple.InPlaceBodyBytes, Is.GreaterThan(0));
    });

    [TestCase(false)]
    [TestCase(true)]
    public void LargeBody_CutShort_IsStreamClosed_SayingHowMuchCame(bool pooled) => Run(async () =>
    {
        const int declared = 1_000_000, sent = 300_000;
        byte[] head = Head(declared);
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync(Concat(head, s_body.AsSpan(0, sent).ToArray()));
        });
        var pool = new CountingPool();
        Client.BodyPool = pool;

        HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url()) { PooledBody = pooled }, raiseError: false);

        Assert.That(response.Error, Is.TypeOf<HttpStreamClosedError>());
        Assert.That(response.Error!.Message, Does.StartWith($"Stream closed after {sent} of {declared} body bytes"));
        Assert.That(((HttpStreamClosedError)response.Error).BytesReceived, Is.EqualTo((long)head.Length + sent));
        Assert.That(Simple.InPlaceBodyBytes, Is.GreaterThan(0), "the body was being received in place when the server closed");
        Assert.That(pool.Outstanding, Is.Zero);
        Assert.That(pool.BadReturns, Is.Zero);
    });

    [Test]
    public void LargeBody_StalledMidBody_TimesOut_ReturnsThePooledMemory_AndTheNextFetchWorks() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            if (await connection.ReadRequestAsync() is not { } head)
            {
                return;
            }

            if (head.Contains("/stall", StringComparison.Ordinal))
            {
                // Part of the body, then nothing: the connection stays open until the test ends.
                await connection.WriteAsync(Concat(Head(Size), s_body.AsSpan(0, 200_000).ToArray()));
                connection.KeepOpen = true;
                return;
            }

            await connection.WriteAsync(Concat(Head(Size), s_body));
        });
        var pool = new CountingPool();
        Client.BodyPool = pool;

        HttpResponse stalled = await Client.FetchAsync(new HttpRequest(raw.Url("/stall")) { PooledBody = true, RequestTimeout = TimeSpan.FromMilliseconds(300) }, raiseError: false);
        Assert.That(stalled.Error, Is.TypeOf<HttpTimeoutError>());
        Assert.That(Simple.InPlaceBodyBytes, Is.GreaterThan(0), "the body was being received in place when the timeout came");
        Assert.That(pool.Outstanding, Is.Zero);

        using HttpResponse next = await Client.FetchAsync(new HttpRequest(raw.Url("/whole")) { PooledBody = true });
        Assert.That(next.BodySpan.SequenceEqual(s_body), Is.True);
        Assert.That(pool.BadReturns, Is.Zero);
    });

    [Test]
    public void StreamedBody_GoesToTheCallback_NotInPlace() => Run(async () =>
    {
        using var raw = Serving(Concat(Head(Size), s_body));
        var received = new ArrayBufferWriter<byte>();
        await Client.FetchAsync(new HttpRequest(raw.Url()) { StreamingCallback = chunk => received.Write(chunk.Span) });
        Assert.That(received.WrittenSpan.SequenceEqual(s_body), Is.True);
        Assert.That(Simple.InPlaceBodyBytes, Is.Zero);
    });

    [Test]
    public void BodyForAWriter_GoesToTheWriter_NotInPlace() => Run(async () =>
    {
        using var raw = Serving(Concat(Head(Size), s_body));
        var writer = new ArrayBufferWriter<byte>();
        using HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url()) { BodyWriter = writer });
        Assert.That(writer.WrittenSpan.SequenceEqual(s_body), Is.True);
        Assert.That(Simple.InPlaceBodyBytes, Is.Zero);
    });

    [TestCase(false)]
    [TestCase(true)]
    public void CompressedBody_IsDecoded_NotKeptInPlace(bool pooled) => Run(async () =>
    {
        // Random bytes do not compress: the encoded body is as large as the decoded one.
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(s_body);
        }

        byte[] encoded = compressed.ToArray();
        using var raw = Serving(Concat(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {encoded.Length}\r\n\r\n"), encoded));
        using HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url()) { DecompressResponse = true, PooledBody = pooled });
        Assert.That(response.BodySpan.SequenceEqual(s_body), Is.True);
        Assert.That(Simple.InPlaceBodyBytes, Is.Zero);
    });

    private static RawHttpServer Serving(byte[] reply) => RawHttpServer.Start(async connection =>
    {
        await connection.ReadRequestAsync();
        await connection.WriteAsync(reply);
    });

    private static byte[] Head(int length) => Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");

    private static byte[] Concat(byte[] first, byte[] second) => [.. first, .. second];

    private static byte[] RandomBody(int size, int seed)
    {
        var body = new byte[size];
        new Random(seed).NextBytes(body);
        return body;
    }
}
