using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Loop.Curl;
using Loop.Curl.Native;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// What the curl client checks and decodes itself rather than leave to libcurl: content
/// decoding, the body limit on drained redirect bodies, the framing fields, the 1xx cap, and the
/// typed error (with its CURLcode) for each way a transfer fails.
/// </summary>
public sealed class CurlResponseRulesTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(Encoding.ASCII.GetBytes(text));
        }

        return output.ToArray();
    }

    private static byte[] Response(string head, byte[] body) => [.. Encoding.Latin1.GetBytes(head), .. body];

    private static RawHttpServer Serving(byte[] response) => RawHttpServer.Start(async connection =>
    {
        await connection.ReadRequestAsync();
        await connection.WriteAsync(response);
    });

    private async Task<T> FailsWith<T>(string url, HttpRequest? template = null, AsyncHttpClient? client = null)
        where T : HttpClientError
    {
        HttpRequest request = template is null ? new HttpRequest(url) : template with { Url = url };
        HttpResponse response = await (client ?? Client).FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.TypeOf<T>(), response.Error?.ToString());
        return (T)response.Error!;
    }

    [Test]
    public void MultiMemberGzip_IsDecodedWhole() => Run(async () =>
    {
        byte[] body = [.. Gzip("first member, "), .. Gzip("second member")];
        using RawHttpServer server = Serving(Response($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {body.Length}\r\n\r\n", body));
        HttpResponse response = await Client.FetchAsync(server.Url());
        Assert.That(Text(response), Is.EqualTo("first member, second member"));
        Assert.That(response.Headers["X-Consumed-Content-Encoding"], Is.EqualTo("gzip"));
        Assert.That(response.Headers.Contains("Content-Encoding"), Is.False);
        Assert.That(server.Requests.Single(), Does.Contain("Accept-Encoding: gzip, deflate, br"));
    });

    [Test]
    public void TruncatedGzip_WithAMatchingContentLength_IsAContentDecodingError() => Run(async () =>
    {
        byte[] whole = Gzip(new string('x', 18000) + Guid.NewGuid());
        byte[] half = whole[..(whole.Length / 2)];
        using RawHttpServer server = Serving(Response($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {half.Length}\r\n\r\n", half));
        HttpContentDecodingError error = await FailsWith<HttpContentDecodingError>(server.Url());
        Assert.That(error.Encoding, Is.EqualTo("gzip"));
    });

    [Test]
    public void UnknownContentEncoding_PassesTheBodyThroughWithItsHeader() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nContent-Encoding: zstd-or-else\r\nContent-Length: 5\r\n\r\n", "hello"u8.ToArray()));
        HttpResponse response = await Client.FetchAsync(server.Url());
        Assert.That(Text(response), Is.EqualTo("hello"));
        Assert.That(response.Headers["Content-Encoding"], Is.EqualTo("zstd-or-else"));
    });

    [Test]
    public void DecompressResponseOff_SendsNoAcceptEncoding_AndKeepsTheBodyCompressed() => Run(async () =>
    {
        byte[] body = Gzip("plain");
        using RawHttpServer server = Serving(Response($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {body.Length}\r\n\r\n", body));
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url()) { DecompressResponse = false });
        Assert.That(response.Body, Is.EqualTo(body));
        Assert.That(server.Requests.Single(), Does.Not.Contain("Accept-Encoding"));
    });

    [Test]
    public void RedirectWithAnEndlessChunkedBody_FailsAtMaxBodySize_NotAtTheTimeout() => Run(async () =>
    {
        // curl drains a followed redirect's body without calling the write callback.
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n");
            byte[] chunk = Encoding.ASCII.GetBytes("4000\r\n" + new string('z', 0x4000) + "\r\n");
            while (true)
            {
                await connection.WriteAsync(chunk);
            }
        });
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 256 * 1024 });
        var clock = Stopwatch.StartNew();
        HttpBodyTooLargeError error = await FailsWith<HttpBodyTooLargeError>(server.Url(), new HttpRequest("x") { RequestTimeout = TimeSpan.FromSeconds(60) }, client);
        Assert.That(error.Limit, Is.EqualTo(256 * 1024));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    });

    [Test]
    public void EndlessChunkExtension_IsAProtocolErrorAtMaxBodySize_NotAtTheTimeout() => Run(async () =>
    {
        // libcurl 7.88 skips a chunk extension of any length, without a limit of its own and
        // without calling any callback but the debug one: the framing curl read beyond the body
        // ends it once it passes MaxBodySize.
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
            byte[] extension = Encoding.ASCII.GetBytes(new string('x', 0x4000));
            while (true)
            {
                await connection.WriteAsync(extension);
            }
        });
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 256 * 1024 });
        var clock = Stopwatch.StartNew();
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url(), new HttpRequest("x") { RequestTimeout = TimeSpan.FromSeconds(60) }, client);
        Assert.That(error.Message, Does.Contain("chunked framing"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    });

    [Test]
    public void SmallChunks_WithMoreFramingThanBody_AreReadWhole() => Run(async () =>
    {
        // Chunk-size lines with extensions: more framing than body, all within MaxBodySize.
        string chunks = string.Concat(Enumerable.Repeat("1;ext=" + new string('e', 50) + "\r\nx\r\n", 1000)) + "0\r\n\r\n";
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, []));
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 64 * 1024 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo(new string('x', 1000)));
    });

    [Test]
    public void DeclaredContentLengthOverTheLimit_FailsBeforeTheBody() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n", new byte[100]));
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 1000 });
        HttpBodyTooLargeError error = await FailsWith<HttpBodyTooLargeError>(server.Url(), client: client);
        Assert.That(error.DeclaredLength, Is.EqualTo(5000000));
    });

    [TestCase("Content-Length: 5\r\nContent-Length: 6\r\n", "Multiple unequal Content-Lengths")]
    [TestCase("Content-Length: 5, 6\r\n", "Multiple unequal Content-Lengths")]
    [TestCase("Content-Length: 100000000000000000000000000\r\n", "Only integer Content-Length")]
    [TestCase("Content-Length: abc\r\n", "Only integer Content-Length")]
    [TestCase("Content-Length: -5\r\n", "Only integer Content-Length")]
    [TestCase("Content-Length: 5\r\n 5\r\n", "Folded Content-Length")]
    [TestCase("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "both Transfer-Encoding and Content-Length")]
    [TestCase("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "both Transfer-Encoding and Content-Length")]
    [TestCase("Transfer-Encoding: chunked, gzip\r\n", "does not end with chunked")]
    [TestCase("Transfer-Encoding: chunked, chunked\r\n", "chunked more than once")]
    [TestCase("Transfer-Encoding: x-unknown, chunked\r\n", "Unsupported Transfer-Encoding: x-unknown")]
    public void AmbiguousFraming_IsAProtocolErrorNamingTheLine(string fields, string message) => Run(async () =>
    {
        using RawHttpServer server = Serving(Response($"HTTP/1.1 200 OK\r\n{fields}\r\n", "hello"u8.ToArray()));
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain(message));
        if (error.CurlCode is null)
        {
            // Found by our header callback, which names the line (libcurl refuses some values before we see them).
            Assert.That(error.Line, Is.Not.Null.And.Not.Empty);
        }
    });

    [Test]
    public void TransferCodingBeforeChunked_IsUndone() => Run(async () =>
    {
        byte[] gzip = Gzip("transfer-coded");
        byte[] chunked = [.. Encoding.ASCII.GetBytes($"{gzip.Length:x}\r\n"), .. gzip, .. "\r\n0\r\n\r\n"u8.ToArray()];
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", chunked));
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url()) { DecompressResponse = false });
        Assert.That(Text(response), Is.EqualTo("transfer-coded"));
    });

    [Test]
    public void NoContentWithABody_IsAProtocolError() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "hello"u8.ToArray()));
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain("should not have body"));
    });

    [TestCase("HTTP/2 200 OK")]
    [TestCase("HTTP/2 200 ")]
    [TestCase("HTTP/3 200 OK")]
    [TestCase("HTTP/1.1 2000 OK")]
    public void StatusLineOfAnotherVersionOnAnHttp1Connection_IsAProtocolError(string statusLine) => Run(async () =>
    {
        using RawHttpServer server = Serving(Response($"{statusLine}\r\nContent-Length: 5\r\n\r\n", "hello"u8.ToArray()));
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain("start line").Or.Contain("Malformed HTTP response"));
    });

    [Test]
    public void EndlessContinues_FailQuickly_AsAProtocolError() => Run(async () =>
    {
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            while (true)
            {
                await connection.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n");
            }
        });
        var clock = Stopwatch.StartNew();
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url(), new HttpRequest("x") { RequestTimeout = TimeSpan.FromSeconds(60) });
        Assert.That(error.Message, Does.Contain("informational (1xx)"));
        Assert.That(error.Line, Does.StartWith("HTTP/1.1 100"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    });

    [Test]
    public void AFewContinues_ThenTheResponse_Succeeds() => Run(async () =>
    {
        string continues = string.Concat(Enumerable.Repeat("HTTP/1.1 100 Continue\r\n\r\n", CurlTransfer.MaxInformational));
        using RawHttpServer server = Serving(Response(continues + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "ok"u8.ToArray()));
        Assert.That(Text(await Client.FetchAsync(server.Url())), Is.EqualTo("ok"));
    });

    [Test]
    public void Http09Reply_IsAProtocolError_WithItsCurlCode() => Run(async () =>
    {
        using RawHttpServer server = Serving("<html>hello</html>\r\n"u8.ToArray());
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain("HTTP/1.x status line"));
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.UnsupportedProtocol));
    });

    [Test]
    public void InvalidChunkSize_IsAProtocolError() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", []));
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain("chunk"));
        Assert.That(error.CurlCode, Is.Not.Null);
    });

    [Test]
    public void HugeHeaderLine_IsAProtocolError() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response($"HTTP/1.1 200 OK\r\nX-Big: {new string('a', 100 * 1024)}\r\nContent-Length: 0\r\n\r\n", []));
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxHeaderSize = 1024 * 1024 });
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url(), client: client);
        Assert.That(error.CurlCode, Is.Not.Null);
    });

    [Test]
    public void BodyCutShort_IsStreamClosed_SayingHowMuchCame() => Run(async () =>
    {
        using RawHttpServer server = Serving(Response("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", new byte[120]));
        HttpStreamClosedError error = await FailsWith<HttpStreamClosedError>(server.Url());
        Assert.That(error.Message, Does.StartWith("Stream closed after 120 of 500 body bytes"));
        Assert.That(error.BytesReceived, Is.GreaterThan(120));
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.PartialFile));
    });

    [TestCase("HTTP/1.1 200 OK\r\nContent-Le")]
    [TestCase("HTTP/1.1 200 OK\r\n")]
    [TestCase("HTTP/1.1 100 Continue\r\n\r\n")]
    public void ClosedBeforeTheEndOfTheHead_IsStreamClosed_NotAnEmpty200(string reply) => Run(async () =>
    {
        // libcurl 7.88 reports the first two as complete responses without a body.
        using RawHttpServer server = Serving(Encoding.Latin1.GetBytes(reply));
        HttpStreamClosedError error = await FailsWith<HttpStreamClosedError>(server.Url());
        Assert.That(error.Message, Does.StartWith("Stream closed after"));
        Assert.That(error.BytesReceived, Is.GreaterThanOrEqualTo(17));
    });

    [TestCase("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "start line")]
    [TestCase("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "header line")]
    [TestCase("HTTP/1.1 200 OK\r\n Folded: x\r\nContent-Length: 0\r\n\r\n", "header line")]
    [TestCase("HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n", "header line")]
    [TestCase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", "chunk data not followed by CRLF")]
    [TestCase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n", "Invalid chunk size")]
    public void WhatLibcurlRefusesItself_IsAProtocolErrorSayingWhat(string reply, string said) => Run(async () =>
    {
        using RawHttpServer server = Serving(Encoding.Latin1.GetBytes(reply));
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url());
        Assert.That(error.Message, Does.Contain(said));
        Assert.That(error.CurlCode, Is.Not.Null);
    });

    [TestCase(null, 60)]
    [TestCase(0.3, 1)]
    [TestCase(2.5, 3)]
    [TestCase(0.0, 0)]
    public void IdleConnectionTimeout_IsLibcurlsMaxAgeInWholeSeconds_RoundedUp(double? seconds, long expected)
    {
        // CURLOPT_MAXAGE_CONN counts whole seconds: a shorter limit keeps a connection a little
        // longer, never less; 0 forbids reuse (IdleConnectionTimeoutZero_KeepsNoConnection).
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { IdleConnectionTimeout = seconds is { } s ? TimeSpan.FromSeconds(s) : null });
        Assert.That(client.MaxIdleSeconds, Is.EqualTo(expected));
    }

    [Test]
    public void FoldedFirstField_OnTheNextRequestOverAKeptConnection_IsAProtocolError_NotACrash() => Run(async () =>
    {
        // libcurl before 8.1.0 unfolded such a line onto the previous response's last field,
        // freed by then, when the easy handle was reused (curl/curl#11101): the process died.
        int requests = 0;
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync(Interlocked.Increment(ref requests) == 1
                    ? "HTTP/1.1 200 OK\r\nX-Last: field\r\nContent-Length: 2\r\n\r\nok"
                    : "HTTP/1.1 200 OK\r\n X: a\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));
        Assert.That(client.IdleHandleCount, Is.EqualTo(1), "kept: reset where libcurl clears a handle, renewed (a fresh native handle) where it does not");
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url(), client: client);
        Assert.That(error.Message, Does.Contain("header line"));
        Assert.That(server.ConnectionCount, Is.EqualTo(1), "a fresh easy handle still reuses the connection");
    });

    [Test]
    public void LateResponseOnAnIdleConnection_IsNotTakenForTheNextRequestsAnswer() => Run(async () =>
    {
        // libcurl 7.88 reuses a kept-alive connection with unread bytes on it.
        var firstReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var strayWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int connections = 0;
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            bool first = Interlocked.Increment(ref connections) == 1;
            while (await connection.ReadRequestAsync() is not null)
            {
                if (first)
                {
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");

                    // Once the client has its response and the connection is idle.
                    await firstReceived.Task;
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED");
                    strayWritten.TrySetResult();
                }
                else
                {
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
                }
            }
        });
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("first"));
        firstReceived.SetResult();
        await strayWritten.Task.WaitAsync(TestTimeout);
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("second"));
        Assert.That(server.ConnectionCount, Is.EqualTo(2));
    });

    [Test]
    public void SwitchingProtocolsNotAsked_FailsAtOnce_AsAProtocolError() => Run(async () =>
    {
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nhello");

            // Then silence, until the client gives up the connection.
            await connection.ReadRequestAsync();
        });
        var clock = Stopwatch.StartNew();
        HttpProtocolError error = await FailsWith<HttpProtocolError>(server.Url(), new HttpRequest("x") { RequestTimeout = TimeSpan.FromSeconds(60) });
        Assert.That(error.Message, Does.Contain("101"));
        Assert.That(error.Line, Does.StartWith("HTTP/1.1 101"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    });

    [Test]
    public void NothingReceived_IsStreamClosed() => Run(async () =>
    {
        using RawHttpServer server = Serving([]);
        HttpStreamClosedError error = await FailsWith<HttpStreamClosedError>(server.Url());
        Assert.That(error.Message, Does.StartWith("Stream closed before any response byte"));
        Assert.That(error.BytesReceived, Is.Zero);
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.GotNothing));
    });

    [Test]
    public void ConnectionRefused_IsAConnectError_NamingHostAndPort() => Run(async () =>
    {
        using var holder = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        holder.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        int port = ((System.Net.IPEndPoint)holder.LocalEndPoint!).Port;
        HttpConnectError error = await FailsWith<HttpConnectError>($"http://127.0.0.1:{port}/");
        Assert.That((error.Host, error.Port), Is.EqualTo(("127.0.0.1", port)));
        Assert.That(error.InnerException, Is.TypeOf<System.Net.Sockets.SocketException>());
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.CouldNotConnect));
    });

    [Test]
    public void UnresolvableHost_IsAConnectError_WithTheResolveFailureInside() => Run(async () =>
    {
        HttpConnectError error = await FailsWith<HttpConnectError>("http://example.invalid:8080/");
        Assert.That((error.Host, error.Port), Is.EqualTo(("example.invalid", 8080)));
        Assert.That(error.InnerException, Is.TypeOf<ResolveException>());
        Assert.That(error.Message, Does.StartWith("Could not resolve example.invalid"));
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.CouldNotResolveHost));
    });

    [Test]
    public void UntrustedCertificate_IsATlsError() => Run(async () =>
    {
        HttpTlsError error = await FailsWith<HttpTlsError>(Server.HttpsUrl("/hello"));
        Assert.That(error.Reason, Is.EqualTo(TlsFailureReason.UntrustedRoot));
        Assert.That(error.InnerException, Is.TypeOf<TlsHandshakeException>());
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.PeerFailedVerification));
    });

    [Test]
    public void RequestTimeout_IsATimeoutInTheRequestPhase_WithItsCurlCode() => Run(async () =>
    {
        HttpTimeoutError error = await FailsWith<HttpTimeoutError>(Server.Url("/hang"), new HttpRequest("x") { RequestTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.That(error.Phase, Is.EqualTo(HttpTimeoutPhase.Request));
        Assert.That(error.CurlCode, Is.EqualTo(CurlCode.OperationTimedOut));
    });
}
