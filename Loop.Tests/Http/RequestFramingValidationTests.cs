using System.Net.Sockets;
using System.Text;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// The client owns the framing of what it sends (issue 12, item 5): caller-set framing headers
/// that disagree with the request are refused at the call, before a byte goes out, in both
/// clients; those that agree go out once.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class RequestFramingValidationTests(Type clientType) : HttpClientFixture(clientType)
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    // What would follow the first 3 bytes: a whole second request, if the server believed Content-Length: 3.
    private static readonly byte[] s_smuggling = Encoding.ASCII.GetBytes("abcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");

    private static IEnumerable<TestCaseData> RefusedRequests()
    {
        static TestCaseData Case(string name, string method, byte[]? body, bool producer, params string[] fields)
        {
            var headers = new HttpHeaders();
            foreach (string field in fields)
            {
                int colon = field.IndexOf(':');
                headers.Add(field[..colon], field[(colon + 1)..].Trim());
            }

            return new TestCaseData(method, body, producer, headers).SetArgDisplayNames(name);
        }

        yield return Case("ContentLengthShorterThanTheBody", "POST", s_smuggling, false, "Content-Length: 3");
        yield return Case("ContentLengthLongerThanTheBody", "POST", "abc"u8.ToArray(), false, "Content-Length: 4");
        yield return Case("ContentLengthTwice", "POST", "abc"u8.ToArray(), false, "Content-Length: 3", "Content-Length: 3");
        yield return Case("ContentLengthList", "POST", "abc"u8.ToArray(), false, "Content-Length: 3, 3");
        yield return Case("ContentLengthSigned", "POST", "abc"u8.ToArray(), false, "Content-Length: +3");
        yield return Case("ContentLengthHex", "POST", "abc"u8.ToArray(), false, "Content-Length: 0x3");
        yield return Case("ContentLengthHuge", "POST", "abc"u8.ToArray(), false, "Content-Length: 100000000000000000000000000");
        yield return Case("ContentLengthWithoutABody", "GET", null, false, "Content-Length: 5");
        yield return Case("ChunkedWithAPlainBody", "POST", s_smuggling, false, "Transfer-Encoding: chunked");
        yield return Case("ChunkedWithoutABody", "GET", null, false, "Transfer-Encoding: chunked");
        yield return Case("ChunkedAndContentLengthWithAProducer", "POST", null, true, "Transfer-Encoding: chunked", "Content-Length: 3");
        yield return Case("GzipChunkedWithAProducer", "POST", null, true, "Transfer-Encoding: gzip, chunked");
        yield return Case("IdentityWithAProducer", "POST", null, true, "Transfer-Encoding: identity");
        yield return Case("ChunkedTwiceWithAProducer", "POST", null, true, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked");
        yield return Case("HostTwice", "GET", null, false, "Host: a.example", "Host: b.example");
        yield return Case("HostList", "GET", null, false, "Host: a.example, b.example");
        yield return Case("HostEmpty", "GET", null, false, "Host: ");
        yield return Case("HostWithASpace", "GET", null, false, "Host: a.example b.example");
        yield return Case("HostWithAPath", "GET", null, false, "Host: a.example/x");
        yield return Case("HostWithABadPort", "GET", null, false, "Host: a.example:99999");
        yield return Case("HostWithAnEmptyPort", "GET", null, false, "Host: a.example:");
        yield return Case("HostWithUserInfo", "GET", null, false, "Host: user@a.example");
        yield return Case("ConnectionNamesContentLength", "POST", "abc"u8.ToArray(), false, "Connection: close, Content-Length");
        yield return Case("ConnectionNamesTransferEncoding", "GET", null, false, "Connection: Transfer-Encoding");
        yield return Case("ConnectionNamesHost", "GET", null, false, "Connection: host");
        yield return Case("ConnectionUpgrade", "GET", null, false, "Connection: Upgrade");
        yield return Case("ConnectionNotATokenList", "GET", null, false, "Connection: close; x");
        yield return Case("Upgrade", "GET", null, false, "Upgrade: h2c");
    }

    [TestCaseSource(nameof(RefusedRequests))]
    public void FramingHeader_DisagreeingWithTheRequest_IsRefusedAndNothingIsSent(string method, byte[]? body, bool producer, HttpHeaders headers) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url("/first"), method, headers, body);
        if (producer)
        {
            request.BodyProducer = async write => await write("abc"u8.ToArray());
        }

        Assert.Throws<ArgumentException>(() => Client.FetchAsync(request, raiseError: false));

        // The next request on the same client is the only one the server ever sees.
        HttpResponse next = await Client.FetchAsync(raw.Url("/second"));
        Assert.That(Text(next), Is.EqualTo("ok"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
        Assert.That(raw.Requests.Single(), Does.StartWith("GET /second HTTP/1.1\r\n"));
    });

    [Test]
    public void SmugglingContentLength_NoByteOfASecondRequestGoesOut() => Run(async () =>
    {
        var received = new StringBuilder();
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Everything that arrives on the connection, until the client closes it; one answer, after the head.
            var buffer = new byte[4096];
            bool answered = false;
            int n;
            while ((n = await connection.Socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                bool headSeen;
                lock (received)
                {
                    received.Append(Encoding.Latin1.GetString(buffer, 0, n));
                    headSeen = received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal);
                }

                if (headSeen && !answered)
                {
                    answered = true;
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                }
            }
        });
        var evil = new HttpRequest(raw.Url("/upload"), "POST", new HttpHeaders { { "Content-Length", "3" } }, s_smuggling);
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(evil));
        var good = new HttpRequest(raw.Url("/upload"), "POST", null, s_smuggling);
        Assert.That(Text(await Client.FetchAsync(good)), Is.EqualTo("ok"));
        string wire;
        lock (received)
        {
            wire = received.ToString();
        }

        Assert.That(wire, Does.Contain($"\r\nContent-Length: {s_smuggling.Length}\r\n").IgnoreCase);
        Assert.That(wire, Does.Not.Contain("Content-Length: 3\r\n"));
        Assert.That(wire, Does.EndWith("\r\n\r\n" + Encoding.ASCII.GetString(s_smuggling)), "the smuggled request is only ever the body of the first");
    });

    [Test]
    public void ContentLength_EqualToTheBody_GoesOutOnce() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url(), "POST", new HttpHeaders { { "Content-Length", "3" } }, "abc"u8.ToArray());
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
        Assert.That(CountFields(raw.Requests.Single(), "Content-Length"), Is.EqualTo(1));
    });

    [Test]
    public void ContentLengthZero_WithoutABody_IsAllowed() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url(), "GET", new HttpHeaders { { "Content-Length", "0" } });
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
    });

    [Test]
    public void Host_DifferentFromTheUrl_IsSentAsAVirtualHost() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url(), headers: new HttpHeaders { { "Host", "virtual.example:8080" } });
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
        string head = raw.Requests.Single();
        Assert.That(CountFields(head, "Host"), Is.EqualTo(1));
        Assert.That(head, Does.Contain("\r\nHost: virtual.example:8080\r\n"));
    });

    [TestCase("[::1]:80")]
    [TestCase("127.0.0.1")]
    [TestCase("xn--bcher-kva.example")]
    public void Host_AsAnAddressOrAName_IsAllowed(string host) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url(), headers: new HttpHeaders { { "Host", host } });
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
    });

    [Test]
    public void ConnectionClose_IsAllowed() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(Ok);
        var request = new HttpRequest(raw.Url(), headers: new HttpHeaders { { "Connection", "close" } });
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
    });

    [Test]
    public void ChunkedTransferEncoding_WithAProducer_GoesOutOnce() => Run(async () =>
    {
        var request = new HttpRequest("x", "POST", new HttpHeaders { { "Transfer-Encoding", "chunked" } })
        {
            BodyProducer = async write =>
            {
                await write("1234"u8.ToArray());
                await write("5678"u8.ToArray());
            },
        };
        // Kestrel answers "chunked, chunked" with an error: the echo shows one framing went out.
        HttpResponse response = await FetchAsync("/echopost", request);
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(Text(response), Is.EqualTo("12345678"));
    });

    private static int CountFields(string head, string name) =>
        head.Split("\r\n").Count(line => line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase));
}
