using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Http.Internal;
using Loop.Tests.Support;

namespace Loop.Tests.Handler;

/// <summary>
/// <see cref="LoopHttpMessageHandler"/> driven through a plain <see cref="HttpClient"/>, with each
/// client implementation, against Kestrel and raw-socket servers on 127.0.0.1. Each test has a
/// handler with a loop of its own; the teardown disposes it and checks that its thread ended.
/// </summary>
[TestFixture(LoopClientKind.Simple)]
[TestFixture(LoopClientKind.Curl)]
[CancelAfter(30_000)]
public sealed class LoopHttpMessageHandlerTests(LoopClientKind kind)
{
    private LoopHttpMessageHandler _handler = null!;
    private HttpClient _client = null!;

    private static HandlerTestServer Server => HandlerTestServer.Shared;

    [SetUp]
    public void CreateClient()
    {
        _handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { Client = kind });
        _client = new HttpClient(_handler) { Timeout = HandlerAssert.Deadline };
    }

    [TearDown]
    public void DisposeAndCheck()
    {
        Thread thread = _handler.OwnedTransport!.Thread;
        _client.Dispose();
        _handler.Dispose();
        Assert.That(thread.IsAlive, Is.False, "the loop's thread ended with the handler");
        Assert.That(_handler.Client.IsClosed, Is.True);
    }

    [Test]
    public async Task Get_Hello_GivesStatusReasonVersionAndHeadersSplitByKind()
    {
        string id = Guid.NewGuid().ToString();
        var request = new HttpRequestMessage(HttpMethod.Get, Server.Url($"/hello?id={id}"));
        request.Headers.Add("X-Custom", "one");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));

        using HttpResponseMessage response = await _client.SendAsync(request).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.ReasonPhrase, Is.EqualTo("OK"));
        Assert.That(response.Version, Is.EqualTo(HttpVersion.Version11));
        Assert.That(response.RequestMessage, Is.SameAs(request));
        Assert.That(response.Headers.GetValues("X-Test"), Is.EqualTo(new[] { "yes" }));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/plain"));
        Assert.That(response.Content.Headers.ContentLanguage, Is.EqualTo(new[] { "en" }));
        Assert.That(response.Headers.NonValidated.Contains("Content-Type"), Is.False, "a content header is not among the response headers");
        Assert.That(await response.Content.ReadAsStringAsync().Within(), Is.EqualTo("Hello!"));
        HandlerTestServer.Observed seen = Server.Seen(id);
        Assert.That(seen.Headers["X-Custom"], Is.EqualTo("one"));
        Assert.That(seen.Headers["Accept"], Is.EqualTo("text/plain"));
        Assert.That(seen.Protocol, Is.EqualTo("HTTP/1.1"));
    }

    [Test]
    public async Task Get_Http10StatusLine_VersionIsWhatTheServerSent()
    {
        using RawHttpServer server = RawHttpServer.Responding("HTTP/1.0 203 Fine By Me\r\nContent-Length: 2\r\nX-Old: 1\r\n\r\nok");

        using HttpResponseMessage response = await _client.GetAsync(server.Url("/")).Within();

        Assert.That(response.Version, Is.EqualTo(HttpVersion.Version10));
        Assert.That((int)response.StatusCode, Is.EqualTo(203));
        Assert.That(response.ReasonPhrase, Is.EqualTo("Fine By Me"));
        Assert.That(response.Content.Headers.ContentLength, Is.EqualTo(2));
        Assert.That(await response.Content.ReadAsStringAsync().Within(), Is.EqualTo("ok"));
    }

    [TestCase("POST")]
    [TestCase("PUT")]
    public async Task Send_ContentOfKnownLength_ServerGetsItWithContentLength(string method)
    {
        string id = Guid.NewGuid().ToString();
        byte[] body = HandlerTestServer.Pattern(300_000);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-test");

        using HttpResponseMessage response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), Server.Url($"/echo?id={id}")) { Content = content }).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues("X-Method").Single(), Is.EqualTo(method));
        Assert.That(await response.Content.ReadAsByteArrayAsync().Within(), Is.EqualTo(body));
        HandlerTestServer.Observed seen = Server.Seen(id);
        Assert.That(seen.Headers["Content-Length"], Is.EqualTo("300000"));
        Assert.That(seen.Headers["Content-Type"], Is.EqualTo("application/x-test"));
        Assert.That(seen.Headers.ContainsKey("Transfer-Encoding"), Is.False);
    }

    [Test]
    public async Task Post_NoContent_SendsContentLengthZero()
    {
        string id = Guid.NewGuid().ToString();

        using HttpResponseMessage response = await _client.PostAsync(Server.Url($"/echo?id={id}"), null).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Server.Seen(id).Headers["Content-Length"], Is.EqualTo("0"));
    }

    [Test]
    public async Task Post_ContentThatYieldsSlowly_IsStreamedChunked_EachPieceReachesTheServerBeforeTheNextIsMade()
    {
        // The content writes a piece only once the server has received the previous one: a
        // handler that buffered the content whole before sending would never finish.
        string id = Guid.NewGuid().ToString();
        HandlerTestServer.Observed seen = Server.Seen(id);
        var content = new SteppedContent(pieces: 8, pieceSize: 10_000, seen);

        using HttpResponseMessage response = await _client.PostAsync(Server.Url($"/echo?id={id}"), content).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        byte[] echoed = await response.Content.ReadAsByteArrayAsync().Within();
        Assert.That(echoed, Has.Length.EqualTo(80_000));
        Assert.That(echoed, Is.EqualTo(content.Sent.ToArray()));
        Assert.That(seen.Headers["Transfer-Encoding"], Is.EqualTo("chunked"));
        Assert.That(seen.Headers.ContainsKey("Content-Length"), Is.False);
    }

    [Test]
    public async Task Post_ContentThatFailsMidway_HttpRequestExceptionWithTheContentsErrorInside()
    {
        string id = Guid.NewGuid().ToString();

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.PostAsync(Server.Url($"/echo?id={id}"), new FailingContent()));

        Exception? cause = error;
        while (cause is not null and not InvalidDataException)
        {
            cause = cause.InnerException;
        }

        Assert.That(cause, Is.Not.Null, $"the content's own error is inside: {error}");
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task Get_LargeBodyReadThroughResponseHeadersRead_ReaderPauses_ClientBufferStaysBounded()
    {
        const long size = 64L * 1024 * 1024;
        string id = Guid.NewGuid().ToString();

        using HttpResponseMessage response = await _client.GetAsync(Server.Url($"/big?id={id}&size={size}"), HttpCompletionOption.ResponseHeadersRead).Within();
        Assert.That(response.Content.Headers.ContentLength, Is.EqualTo(size));
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        LoopExchange exchange = ((LoopResponseStream)body).Exchange;
        var buffer = new byte[4096];
        int first = await body.ReadAsync(buffer).AsTask().Within();
        Assert.That(first, Is.GreaterThan(0));

        // The reader stops: the loop fills the buffer, then waits for the reader instead of reading on.
        await HandlerAssert.UntilAsync(() => exchange.IsWaitingForReader, "the loop waits for the reader");
        long held = exchange.BytesWritten - exchange.BytesRead;
        Assert.That(held, Is.LessThanOrEqualTo(_handler.Options.ResponseBufferSize + 256 * 1024), "at most the buffer and one received piece wait for the reader");
        Assert.That(exchange.BytesWritten, Is.LessThan(size / 4), "the rest stays with the server (TCP flow control)");
        long serverAtPause = Interlocked.Read(ref Server.Seen(id).BytesWritten);
        Assert.That(serverAtPause, Is.LessThan(size / 2), "the server is held back");

        long total = first;
        bool patternHolds = buffer[0] == 0;
        var large = new byte[64 * 1024];
        int n;
        long maxHeld = held;
        while ((n = await body.ReadAsync(large).AsTask().Within()) > 0)
        {
            for (int i = 0; i < n && patternHolds; i += 997)
            {
                patternHolds = large[i] == (byte)(((total + i) % (16 * 1024)) % 251);
            }

            total += n;
            maxHeld = Math.Max(maxHeld, exchange.BytesWritten - exchange.BytesRead);
        }

        TestContext.Out.WriteLine($"{kind}: {total} bytes read; at most {maxHeld} bytes waited for the reader; the server had written {serverAtPause} when the loop first waited ({held} held then)");
        Assert.That(total, Is.EqualTo(size));
        Assert.That(patternHolds, Is.True, "the bytes arrive in order");
        Assert.That(maxHeld, Is.LessThanOrEqualTo(_handler.Options.ResponseBufferSize + 256 * 1024), "the buffer stayed bounded throughout");
    }

    [Test]
    public async Task DisposeResponse_MidBody_AbortsTheTransfer_ServerSeesTheConnectionClosed()
    {
        string id = Guid.NewGuid().ToString();
        HttpResponseMessage response = await _client.GetAsync(Server.Url($"/forever?id={id}"), HttpCompletionOption.ResponseHeadersRead).Within();
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        Assert.That(await body.ReadAsync(new byte[1000]).AsTask().Within(), Is.GreaterThan(0));

        response.Dispose();

        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task CancelRead_MidBody_AbortsTheTransfer_AndThrowsOperationCanceled()
    {
        string id = Guid.NewGuid().ToString();
        using HttpResponseMessage response = await _client.GetAsync(Server.Url($"/forever?id={id}"), HttpCompletionOption.ResponseHeadersRead).Within();
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        Assert.That(await body.ReadAsync(new byte[1000]).AsTask().Within(), Is.GreaterThan(0));
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();

        await HandlerAssert.CatchAsync<OperationCanceledException>(async () => Assert.Fail($"read {await body.ReadAsync(new byte[1000], cancel.Token)} bytes"));

        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task SendToken_CanceledWhileHttpClientBuffersTheBody_ThrowsTaskCanceled_AbortsTheTransfer()
    {
        string id = Guid.NewGuid().ToString();
        using var cancel = new CancellationTokenSource();
        Task<HttpResponseMessage> send = _client.GetAsync(Server.Url($"/forever?id={id}"), cancel.Token);
        await HandlerAssert.UntilAsync(() => Interlocked.Read(ref Server.Seen(id).BytesWritten) > 100_000, "the body is streaming");

        cancel.Cancel();

        TaskCanceledException error = await HandlerAssert.CatchAsync<TaskCanceledException>(() => send);
        Assert.That(error.CancellationToken, Is.EqualTo(cancel.Token));
        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task SendToken_CanceledAfterTheHead_AbortsTheTransfer_ReadThrowsCanceled()
    {
        // Through HttpMessageInvoker the token reaches the handler as given (HttpClient links it
        // only until SendAsync returns): it still aborts the body after the head.
        string id = Guid.NewGuid().ToString();
        using var cancel = new CancellationTokenSource();
        using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
        using HttpResponseMessage response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, Server.Url($"/forever?id={id}")), cancel.Token).Within();
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        Assert.That(await body.ReadAsync(new byte[1000]).AsTask().Within(), Is.GreaterThan(0));

        cancel.Cancel();

        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.CatchAsync<OperationCanceledException>(async () =>
        {
            var sink = new byte[64 * 1024];
            while (await body.ReadAsync(sink) > 0)
            {
            }
        });
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task SendToken_CanceledBeforeTheHead_ThrowsTaskCanceled_ServerSeesTheConnectionClosed()
    {
        string id = Guid.NewGuid().ToString();
        using var cancel = new CancellationTokenSource();
        Task<HttpResponseMessage> send = _client.GetAsync(Server.Url($"/hold?id={id}"), cancel.Token);
        await HandlerAssert.UntilAsync(() => Server.Seen(id).Method is not null, "the server has the request");

        cancel.Cancel();

        TaskCanceledException error = await HandlerAssert.CatchAsync<TaskCanceledException>(() => send);
        Assert.That(error.CancellationToken, Is.EqualTo(cancel.Token));
        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    // /hold never sends a head; /forever sends one and then a body that never ends, which the
    // default completion option reads inside SendAsync: the timeout covers both.
    [TestCase("/hold", 300, TestName = "HttpClientTimeout_BeforeTheHead_ThrowsTaskCanceledWithTimeoutInside")]
    [TestCase("/forever", 500, TestName = "HttpClientTimeout_WhileTheBodyIsBuffered_ThrowsTaskCanceledWithTimeoutInside")]
    public async Task HttpClientTimeout_ThrowsTaskCanceledWithTimeoutInside(string path, int milliseconds)
    {
        string id = Guid.NewGuid().ToString();
        _client.Timeout = TimeSpan.FromMilliseconds(milliseconds);

        TaskCanceledException error = await HandlerAssert.CatchAsync<TaskCanceledException>(() => _client.GetAsync(Server.Url($"{path}?id={id}")));

        Assert.That(error.InnerException, Is.InstanceOf<TimeoutException>());
        await Server.Seen(id).Aborted.Task.Within();
        await HandlerAssert.UntilAsync(() => _handler.Client.ActiveCount == 0, "the client has no active fetch");
    }

    [Test]
    public async Task DisposeHandler_WhileRequestsWaitForTheHeadOrStreamTheBody_TheyFail_NothingHangs()
    {
        string waiting = Guid.NewGuid().ToString();
        string streaming = Guid.NewGuid().ToString();
        Task<HttpResponseMessage> head = _client.GetAsync(Server.Url($"/hold?id={waiting}"));
        using HttpResponseMessage response = await _client.GetAsync(Server.Url($"/forever?id={streaming}"), HttpCompletionOption.ResponseHeadersRead).Within();
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        await HandlerAssert.UntilAsync(() => Server.Seen(waiting).Method is not null, "the server has the first request");

        _handler.Dispose();

        await HandlerAssert.CatchAsync<HttpRequestException>(() => head);
        await HandlerAssert.CatchAsync<HttpIOException>(async () =>
        {
            var sink = new byte[64 * 1024];
            while (await body.ReadAsync(sink) > 0)
            {
            }
        });
        await Server.Seen(waiting).Aborted.Task.Within();
        await Server.Seen(streaming).Aborted.Task.Within();
    }

    [Test]
    public async Task Get_RefusedPort_ConnectionError()
    {
        int port;
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        }

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.GetAsync($"http://127.0.0.1:{port}/"));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.ConnectionError));
        Assert.That(error.InnerException, Is.InstanceOf<HttpConnectError>());
    }

    [Test]
    public async Task Get_MalformedStatusLine_InvalidResponse()
    {
        using RawHttpServer server = RawHttpServer.Responding("HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n");

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.GetAsync(server.Url("/")));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.InvalidResponse));
        Assert.That(error.InnerException, Is.InstanceOf<HttpProtocolError>());
    }

    [Test]
    public async Task Get_HeaderLargerThanTheLimit_ConfigurationLimitExceeded()
    {
        using RawHttpServer server = RawHttpServer.Responding($"HTTP/1.1 200 OK\r\nX-Big: {new string('a', 70_000)}\r\nContent-Length: 0\r\n\r\n");

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.GetAsync(server.Url("/")));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.ConfigurationLimitExceeded));
        Assert.That(error.InnerException, Is.InstanceOf<HttpClientError>());
    }

    [Test]
    public async Task Get_BodyOverTheClientsMaxBodySize_ConfigurationLimitExceeded()
    {
        using var handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { Client = kind, ClientSettings = new AsyncHttpClientSettings { MaxBodySize = 10_000 } });
        using var client = new HttpClient(handler);

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => client.GetAsync(Server.Url("/big?size=50000")));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.ConfigurationLimitExceeded));
    }

    [Test]
    public async Task Get_BodyEndsEarly_ReadThrowsHttpIOExceptionResponseEnded()
    {
        using RawHttpServer server = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");

        using HttpResponseMessage response = await _client.GetAsync(server.Url("/"), HttpCompletionOption.ResponseHeadersRead).Within();
        Stream body = await response.Content.ReadAsStreamAsync().Within();
        HttpIOException error = await HandlerAssert.CatchAsync<HttpIOException>(async () =>
        {
            var sink = new byte[1000];
            while (await body.ReadAsync(sink) > 0)
            {
            }
        });

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.ResponseEnded));
        Assert.That(error.InnerException, Is.InstanceOf<HttpStreamClosedError>());
    }

    [Test]
    public async Task GetBuffered_BodyEndsEarly_HttpRequestExceptionResponseEnded()
    {
        using RawHttpServer server = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.GetAsync(server.Url("/")));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.ResponseEnded));
    }

    [Test]
    public async Task Get_UntrustedCertificate_SecureConnectionError()
    {
        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.GetAsync(TestHttpServer.Shared.HttpsUrl("/hello")));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.SecureConnectionError));
        Assert.That(error.InnerException, Is.InstanceOf<HttpTlsError>());
    }

    [Test]
    public async Task Get_ErrorStatus_IsAResponse()
    {
        using HttpResponseMessage response = await _client.GetAsync(Server.Url("/status?code=503")).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await response.Content.ReadAsStringAsync().Within(), Is.EqualTo("status body"));
        Assert.Throws<HttpRequestException>(() => response.EnsureSuccessStatusCode());
    }

    [Test]
    public async Task Get_Redirect_IsFollowed_RequestUriIsTheTarget()
    {
        string id = Guid.NewGuid().ToString();

        using HttpResponseMessage response = await _client.GetAsync(Server.Url($"/redirect?id={id}")).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync().Within(), Is.EqualTo("Hello!"));
        Assert.That(response.RequestMessage!.RequestUri!.AbsolutePath, Is.EqualTo("/hello"));
        Assert.That(Server.Seen(id + "-target").Method, Is.EqualTo("GET"));
    }

    [Test]
    public async Task Post_Redirect302_FollowedAsGetWithoutContentOrAuthorization()
    {
        string id = Guid.NewGuid().ToString();
        var request = new HttpRequestMessage(HttpMethod.Post, Server.Url($"/redirect?id={id}")) { Content = new StringContent("form") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "secret");

        using HttpResponseMessage response = await _client.SendAsync(request).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Server.Seen(id).Headers["Authorization"], Is.EqualTo("Bearer secret"));
        HandlerTestServer.Observed target = Server.Seen(id + "-target");
        Assert.That(target.Method, Is.EqualTo("GET"));
        Assert.That(target.Headers.ContainsKey("Authorization"), Is.False);
        Assert.That(target.Headers.ContainsKey("Content-Type"), Is.False);
        Assert.That(response.RequestMessage!.Method, Is.EqualTo(HttpMethod.Get));
    }

    [Test]
    public async Task Get_Redirect_WithAutoRedirectOff_GivesThe302()
    {
        using var handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { Client = kind, AllowAutoRedirect = false });
        using var client = new HttpClient(handler);

        using HttpResponseMessage response = await client.GetAsync(Server.Url("/redirect?id=x")).Within();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Found));
        Assert.That(response.Headers.Location!.OriginalString, Is.EqualTo("/hello?id=x-target"));
    }

    [Test]
    public async Task Get_Gzip_DecodedOnlyWhenAsked()
    {
        using (HttpResponseMessage raw = await _client.GetAsync(Server.Url("/gzip")).Within())
        {
            Assert.That(raw.Content.Headers.ContentEncoding, Is.EqualTo(new[] { "gzip" }));
            byte[] bytes = await raw.Content.ReadAsByteArrayAsync().Within();
            Assert.That(bytes[0], Is.EqualTo(0x1f), "the gzip bytes as sent");
        }

        using var handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { Client = kind, DecompressResponse = true });
        using var client = new HttpClient(handler);
        using HttpResponseMessage decoded = await client.GetAsync(Server.Url("/gzip")).Within();
        Assert.That(decoded.Content.Headers.ContentEncoding, Is.Empty);
        Assert.That(decoded.Content.Headers.NonValidated.Contains("Content-Length"), Is.False, "the length sent is not the length read");
        Assert.That(await decoded.Content.ReadAsStringAsync().Within(), Is.EqualTo("compressed hello"));
    }

    [Test]
    public async Task Send_HeaderValueWithLineBreak_ThrowsHttpRequestException_NothingSent()
    {
        using RawHttpServer server = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        var request = new HttpRequestMessage(HttpMethod.Get, server.Url("/"));
        Assert.That(request.Headers.TryAddWithoutValidation("X-Smuggle", "a\r\nInjected: yes"), Is.True);

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => _client.SendAsync(request));

        Assert.That(error.InnerException, Is.InstanceOf<ArgumentException>());
        Assert.That(server.Requests, Is.Empty);
    }

    [Test]
    public async Task SendAsync_From16ThreadsAtOnce_EveryResponseIsItsOwn()
    {
        const int threads = 16;
        const int each = 5;
        var results = new string?[threads * each];
        using var start = new Barrier(threads);
        var workers = new Thread[threads];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        for (int t = 0; t < threads; t++)
        {
            int worker = t;
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    for (int i = 0; i < each; i++)
                    {
                        int n = (worker * each) + i;
                        using var content = new StringContent($"request {n}");
                        using HttpResponseMessage response = _client.PostAsync(Server.Url("/echo"), content).GetAwaiter().GetResult();
                        results[n] = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failures.Enqueue(e);
                }
            });
            workers[t].Start();
        }

        await Task.Run(() =>
        {
            foreach (Thread worker in workers)
            {
                worker.Join();
            }
        }).Within();

        Assert.That(failures, Is.Empty);
        for (int n = 0; n < results.Length; n++)
        {
            Assert.That(results[n], Is.EqualTo($"request {n}"));
        }
    }

    [Test]
    public void Send_Synchronous_FromAnotherThread_Works()
    {
        using HttpResponseMessage response = _client.Send(new HttpRequestMessage(HttpMethod.Get, Server.Url("/hello")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var reader = new StreamReader(response.Content.ReadAsStream());
        Assert.That(reader.ReadToEnd(), Is.EqualTo("Hello!"));
    }

    /// <summary>A content that writes a piece, then fails.</summary>
    private sealed class FailingContent : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(new byte[1000]);
            throw new InvalidDataException("the content's source broke");
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>A content that writes its pieces one by one, each once the server has received all before it.</summary>
    private sealed class SteppedContent(int pieces, int pieceSize, HandlerTestServer.Observed seen) : HttpContent
    {
        public MemoryStream Sent { get; } = new();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var random = new Random(pieceSize);
            for (int i = 0; i < pieces; i++)
            {
                int before = i * pieceSize;
                await HandlerAssert.UntilAsync(() => Interlocked.Read(ref seen.BytesReceived) >= before, $"the server has received {before} bytes");
                var piece = new byte[pieceSize];
                random.NextBytes(piece);
                Sent.Write(piece);
                await stream.WriteAsync(piece);
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
