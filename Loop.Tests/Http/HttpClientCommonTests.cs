using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>Tornado's HTTPClientCommonTestCase (httpclient_test.py), written once for every client implementation.</summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class HttpClientCommonTests(Type clientType) : HttpClientFixture(clientType)
{
    [Test]
    public void HelloWorld_ReturnsTheBodyAndSendsTheQuery() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/hello");
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(response.Headers["Content-Type"], Is.EqualTo("text/plain"));
        Assert.That(Text(response), Is.EqualTo("Hello world!"));
        Assert.That(response.RequestTime, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
        Assert.That(response.Error, Is.Null);
        Assert.That(Text(await FetchAsync("/hello?name=Ben")), Is.EqualTo("Hello Ben!"));
    });

    [Test]
    public void TimeInfo_NamesThePhases_InTheOrderTheyHappen() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/hello");
        IReadOnlyDictionary<string, TimeSpan> times = response.TimeInfo;
        Assert.That(times.Keys, Is.SupersetOf(new[] { "queue", "connect", "pretransfer", "starttransfer", "total" }));
        Assert.That(times["connect"], Is.LessThanOrEqualTo(times["pretransfer"]));
        Assert.That(times["pretransfer"], Is.LessThanOrEqualTo(times["starttransfer"]));
        Assert.That(times["starttransfer"], Is.LessThanOrEqualTo(times["total"]));
        Assert.That(times["total"], Is.LessThanOrEqualTo(response.RequestTime));
        Assert.That(times.ContainsKey("redirect"), Is.False);
        Assert.That(times.Count, Is.EqualTo(times.Keys.Count()));

        HttpResponse redirected = await FetchAsync("/redirect?url=/hello&status=302");
        Assert.That(Text(redirected), Is.EqualTo("Hello world!"));
        Assert.That(redirected.TimeInfo["redirect"], Is.GreaterThan(TimeSpan.Zero));
        Assert.That(redirected.TimeInfo["total"], Is.LessThanOrEqualTo(redirected.RequestTime));
    });

    [Test]
    public void QueuedFetches_RunOnTheLoopThread() => Run(async () =>
    {
        // A fetch that waited for a slot resumes where the slot was freed, on the loop: not on
        // the thread pool (where a Task's context-free continuation would go).
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        var onLoop = new System.Collections.Concurrent.ConcurrentBag<bool>();
        HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => client.FetchAsync(new HttpRequest(Server.Url("/echopost"), "POST")
        {
            // Called as soon as the request is under way, before any wait for the network.
            BodyProducer = async write =>
            {
                onLoop.Add(Loop.IsOnLoopThread);
                await write(Encoding.ASCII.GetBytes($"body {i}"));
            },
            HeaderCallback = _ => onLoop.Add(Loop.IsOnLoopThread),
        })));
        Assert.That(responses.Select(Text), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"body {i}")));
        Assert.That(onLoop, Is.Not.Empty.And.All.True);
    });

    [Test]
    public void KeepAlive_ABurstAfterALull_ReusesEveryConnection() => Run(async () =>
    {
        // 40 fetches at once (each held by the server until all have arrived, so each has its
        // own connection), all answered, then 40 again: the second burst opens none. libcurl's
        // own cache limit shrinks as the first burst drains and closed 9 of them.
        const int burst = 40;
        string tag = Guid.NewGuid().ToString("N");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = burst });
        var request = new HttpRequest(Server.Url("/trigger"), headers: new HttpHeaders { { "X-Tag", tag } });
        for (int round = 0; round < 2; round++)
        {
            Task<HttpResponse>[] fetches = [.. Enumerable.Range(0, burst).Select(_ => client.FetchAsync(request))];
            for (int i = 0; i < burst; i++)
            {
                await Server.ReleaseNextAsync();
            }

            HttpResponse[] responses = await Task.WhenAll(fetches);
            Assert.That(responses.Select(Text), Is.All.EqualTo("ok"));
            Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(burst), $"connections after round {round + 1}");
        }
    });

    [Test]
    public void KeepAlive_OneClientSlot_TwoOriginsInTurn_KeepBothConnections() => Run(async () =>
    {
        // One fetch at a time, but a connection kept for each origin: going back and forth opens none.
        string tag = Guid.NewGuid().ToString("N");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        var headers = new HttpHeaders { { "X-Tag", tag } };
        for (int i = 0; i < 3; i++)
        {
            Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.Url("/hello"), headers: headers))), Is.EqualTo("Hello world!"));
            Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.OtherUrl("/hello"), headers: headers))), Is.EqualTo("Hello world!"));
        }

        Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(2));
    });

    [Test]
    public void IdleConnectionTimeoutZero_KeepsNoConnection() => Run(async () =>
    {
        string tag = Guid.NewGuid().ToString("N");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { IdleConnectionTimeout = TimeSpan.Zero });
        var request = new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { "X-Tag", tag } });
        for (int i = 0; i < 3; i++)
        {
            Assert.That(Text(await client.FetchAsync(request)), Is.EqualTo("Hello world!"));
        }

        Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(3));
    });

    [Test]
    public void Patch_SendsItsBody() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/echopost", new HttpRequest("x", "PATCH", null, "some patch data"));
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(Text(response), Is.EqualTo("some patch data"));
    });

    [Test]
    public void Options_ReturnsItsBody() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/all_methods", new HttpRequest("x", "OPTIONS"));
        Assert.That(response.Headers["method"], Is.EqualTo("OPTIONS"));
        Assert.That(Text(response), Is.EqualTo("OPTIONS"));
    });

    [Test]
    public void CrossOriginRedirect_DropsCredentialsGivenInTheUrl() => Run(async () =>
    {
        // user:password in the URL is basic authentication for that origin only.
        string target = Uri.EscapeDataString(Server.OtherUrl("/echo_header?name=Authorization"));
        HttpResponse response = await Client.FetchAsync($"http://me:secret@127.0.0.1:{Server.Port}/redirect?status=302&url={target}");
        Assert.That(response.EffectiveUrl, Does.StartWith(Server.OtherUrl("/echo_header")));
        Assert.That(Text(response), Is.Empty);
        HttpResponse sameOrigin = await Client.FetchAsync($"http://me:secret@127.0.0.1:{Server.Port}/redirect?status=302&url=/echo_header%3Fname%3DAuthorization");
        Assert.That(Text(sameOrigin), Is.EqualTo("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("me:secret"))));
    });

    [TestCase("foo bar")]
    [TestCase("foo\tbar")]
    [TestCase("foo\0bar")]
    [TestCase("foo ")]
    [TestCase(" foo")]
    [TestCase("é")]
    [TestCase("foo:bar")]
    public void InvalidRequestHeaderName_IsRefusedAtTheCall(string name)
    {
        var request = new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { name, "value" } });
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(request));
    }

    [TestCase("Foo Bar: x")]
    [TestCase("Foo: a\u0001b")]
    [TestCase("Foo: a\u007fb")]
    [TestCase("Foo: a\rBar: b")]
    public void ResponseHeaderWithForbiddenCharacters_IsAProtocolError(string line) => Run(async () =>
    {
        // RFC 9110 §5.5: no control characters (but HTAB) in a field value; names are tokens;
        // a bare CR is not a line end (RFC 9112 §2.2).
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync($"HTTP/1.1 200 OK\r\n{line}\r\nContent-Length: 2\r\n\r\nok");
        });
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpClientError>());
    });

    [Test]
    public void ResponseHeaderValue_Latin1Specials_AreKeptAsText() => Run(async () =>
    {
        // \x85 and NBSP are not line ends or whitespace to HTTP: one header each, kept as they are,
        // and an NBSP before "chunked" does not make the body chunked.
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync(Encoding.Latin1.GetBytes("HTTP/1.1 200 OK\r\nCookie: foo=\u0085bar\r\nX-Coding: \u00a0chunked\r\nContent-Length: 2\r\n\r\nok"));
        });
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Headers["Cookie"], Is.EqualTo("foo=\u0085bar"));
        Assert.That(response.Headers["X-Coding"], Is.EqualTo("\u00a0chunked"));
        Assert.That(Text(response), Is.EqualTo("ok"));
    });

    [TestCase(200)]
    [TestCase(400)]
    public void CustomReason_IsTheResponsesReason_AndTheErrorsMessage(int code) => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync($"HTTP/1.1 {code} Custom reason\r\nContent-Length: 0\r\n\r\n");
        });
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(code));
        Assert.That(response.Reason, Is.EqualTo("Custom reason"));
        if (code == 400)
        {
            Assert.That(response.Error!.Message, Is.EqualTo("HTTP 400: Custom reason"));
        }
    });

    [Test]
    public void IfModifiedSince_IsSentAsAnHttpDateInGmt() => Run(async () =>
    {
        var utc = new DateTimeOffset(2013, 1, 27, 18, 43, 20, 500, TimeSpan.Zero);
        HttpResponse response = await FetchAsync("/echo_header?name=If-Modified-Since", new HttpRequest("x") { IfModifiedSince = utc });
        Assert.That(Text(response), Is.EqualTo("Sun, 27 Jan 2013 18:43:20 GMT"));
        HttpResponse local = await FetchAsync("/echo_header?name=If-Modified-Since", new HttpRequest("x") { IfModifiedSince = utc.ToOffset(TimeSpan.FromHours(-4)) });
        Assert.That(Text(local), Is.EqualTo("Sun, 27 Jan 2013 18:43:20 GMT"));
    });

    [Test]
    public void BodyProducer_ThatWritesWithoutWaiting_SendsEverything() => Run(async () =>
    {
        // Tornado's sync body producer: the writes are not awaited and the producer ends at once.
        var request = new HttpRequest("x", "POST")
        {
            BodyProducer = write =>
            {
                _ = write("asdf"u8.ToArray());
                _ = write("qwer"u8.ToArray());
                return Task.CompletedTask;
            },
        };
        Assert.That(Text(await FetchAsync("/echopost", request)), Is.EqualTo("asdfqwer"));
        var sized = request with { Headers = new HttpHeaders { { "Content-Length", "8" } } };
        Assert.That(Text(await FetchAsync("/echopost", sized)), Is.EqualTo("asdfqwer"));
    });

    [Test]
    public void ResponseTimes_StartTimeIsNow_AndEveryPhaseWithinTheRequestTime() => Run(async () =>
    {
        DateTimeOffset before = DateTimeOffset.UtcNow;
        HttpResponse response = await FetchAsync("/hello");
        Assert.That(response.StartTime, Is.InRange(before, DateTimeOffset.UtcNow));
        Assert.That(response.TimeInfo.Values, Is.All.InRange(TimeSpan.Zero, response.RequestTime));
    });

    [Test]
    public void UnknownAuthMode_IsRefusedAtTheCall()
    {
        var request = new HttpRequest(Server.Url("/auth")) { AuthUsername = "Aladdin", AuthPassword = "open sesame", AuthMode = (HttpAuthMode)99 };
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(request));
    }

    [Test]
    public void HeadersFromAPlainDictionary_AreSent() => Run(async () =>
    {
        var headers = new HttpHeaders(new Dictionary<string, string> { ["User-Agent"] = "MyUserAgent" });
        Assert.That(Text(await FetchAsync("/user_agent", new HttpRequest("x", headers: headers))), Is.EqualTo("MyUserAgent"));
    });

    [Test]
    public void InvalidGzip_TrailingJunk_EitherDecodesTheMemberOrFailsClearly() => Run(async () =>
    {
        // Tornado's test_invalid_gzip: what is decoded is right, or the fetch fails; never a hang
        // or a silently different body.
        HttpResponse response = await FetchAsync("/invalid_gzip");
        if (response.Code == 200)
        {
            Assert.That(Text(response), Does.StartWith("Hello World 0\n"));
            Assert.That(Text(response), Does.EndWith("Hello World 9999\n"));
        }
        else
        {
            Assert.That(response.Code, Is.EqualTo(599));
            Assert.That(response.Error, Is.InstanceOf<HttpClientError>());
        }
    });

    [Test]
    public void CallersHeaders_AreNotChangedByAFetch() => Run(async () =>
    {
        var headers = new HttpHeaders { { "User-Agent", "Foo" } };
        await Client.FetchAsync(new HttpRequest(Server.Url("/hello"), headers: headers) { AuthUsername = "a", AuthPassword = "b" });
        Assert.That(headers.ToList(), Is.EqualTo(new[] { new KeyValuePair<string, string>("User-Agent", "Foo") }));
    });

    [Test]
    public void Close_WithAFetchInFlightAndOneQueued_FailsBoth_AndLeavesNothingBehind() => Run(async () =>
    {
        // The teardown checks that no handler, timer or descriptor of the client is left.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        await client.FetchAsync(Server.Url("/hello"));
        Task<HttpResponse> running = client.FetchAsync(Server.Url("/hang"));
        Task<HttpResponse> queued = client.FetchAsync(Server.Url("/hello"));
        while (client.ActiveCount == 0)
        {
            await Task.Yield();
        }

        client.Close();
        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await running);
        Assert.That(error.Code, Is.EqualTo(599));
        Assert.That(error.InnerException, Is.InstanceOf<ObjectDisposedException>());
        Exception? queuedError = null;
        try
        {
            await queued;
        }
        catch (Exception e)
        {
            queuedError = e;
        }

        Assert.That(queuedError?.GetBaseException(), Is.InstanceOf<ObjectDisposedException>());
        Assert.Throws<ObjectDisposedException>(() => client.FetchAsync(Server.Url("/hello")));
    });

    [Test]
    public void StreamingCallback_GetsTheBody_AndTheResponseBodyStaysEmpty() => Run(async () =>
    {
        var chunks = new List<string>();
        HttpResponse response = await FetchAsync("/hello", new HttpRequest("x") { StreamingCallback = data => chunks.Add(Encoding.ASCII.GetString(data.Span)) });
        Assert.That(string.Concat(chunks), Is.EqualTo("Hello world!"));
        Assert.That(response.Body, Is.Empty);
    });

    [Test]
    public void Post_FormBody_GetsTheDefaultContentType() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/post", new HttpRequest("x", "POST", null, "arg1=foo&arg2=bar"));
        Assert.That(Text(response), Is.EqualTo("Post arg1: foo, arg2: bar"));
    });

    [Test]
    public void Chunked_IsJoined_AndStreamedOneCallPerChunk() => Run(async () =>
    {
        Assert.That(Text(await FetchAsync("/chunk")), Is.EqualTo("asdfqwer"));
        var chunks = new List<string>();
        HttpResponse streamed = await FetchAsync("/chunk", new HttpRequest("x") { StreamingCallback = data => chunks.Add(Encoding.ASCII.GetString(data.Span)) });
        Assert.That(chunks, Is.EqualTo(new[] { "asdf", "qwer" }));
        Assert.That(streamed.Body, Is.Empty);
    });

    [Test]
    public void Chunked_LastChunksArriveWithTheClose_StillComplete() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n1\r\n2\r\n0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.Null);
        Assert.That(Text(response), Is.EqualTo("12"));
    });

    [TestCase("Aladdin", "open sesame", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")]
    [TestCase("test", "123£", "Basic dGVzdDoxMjPCow==")]
    [TestCase("jose\u0301", "s\u0259cr\u0259t", "Basic am9zw6k6c8mZY3LJmXQ=")]
    public void BasicAuth_SendsNormalizedUtf8Credentials(string user, string password, string expected) => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/auth", new HttpRequest("x") { AuthUsername = user, AuthPassword = password, AuthMode = HttpAuthMode.Basic });
        Assert.That(Text(response), Is.EqualTo(expected));
    });

    [Test]
    public void CredentialsInTheUrl_AreSentAsBasicAuth() => Run(async () =>
    {
        HttpResponse response = await Client.FetchAsync($"http://me:secret@127.0.0.1:{Server.Port}/auth");
        Assert.That(Text(response), Is.EqualTo("Basic " + Convert.ToBase64String("me:secret"u8.ToArray())));
    });

    [Test]
    public void FollowRedirects_Off_ReturnsThe3xx_On_FollowsTheChain() => Run(async () =>
    {
        HttpResponse stopped = await FetchAsync("/countdown/2", new HttpRequest("x") { FollowRedirects = false });
        Assert.That(stopped.Code, Is.EqualTo(302));
        Assert.That(stopped.Headers["Location"], Does.EndWith("/countdown/1"));
        Assert.That(stopped.Error, Is.TypeOf<HttpClientError>().With.Property("Code").EqualTo(302));

        HttpResponse followed = await FetchAsync("/countdown/2");
        Assert.That(followed.Code, Is.EqualTo(200));
        Assert.That(followed.EffectiveUrl, Does.EndWith("/countdown/0"));
        Assert.That(Text(followed), Is.EqualTo("Zero"));
    });

    [Test]
    public void Redirect_WithoutLocation_IsReturnedAsItIs() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/redirect?status=301");
        Assert.That(response.Code, Is.EqualTo(301));
    });

    [Test]
    public void Redirect307_Put_IsRepeatedWithItsBody() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/redirect?status=307&url=/put", new HttpRequest("x", "PUT", null, "hello"));
        Assert.That(Text(response), Is.EqualTo("Put body: hello"));
        response.Rethrow();

        HttpResponse empty = await FetchAsync("/redirect?status=307&url=/put", new HttpRequest("x", "PUT") { AllowNonstandardMethods = true });
        Assert.That(Text(empty), Is.EqualTo("Put body: "));
    });

    [TestCase(301, "POST", "GET")]
    [TestCase(302, "POST", "GET")]
    [TestCase(303, "POST", "GET")]
    [TestCase(301, "GET", "GET")]
    [TestCase(302, "PUT", "PUT")]
    [TestCase(302, "DELETE", "DELETE")]
    [TestCase(302, "OPTIONS", "OPTIONS")]
    [TestCase(303, "PUT", "GET")]
    [TestCase(303, "HEAD", "HEAD")]
    [TestCase(307, "POST", "POST")]
    [TestCase(308, "POST", "POST")]
    [TestCase(308, "PATCH", "PATCH")]
    [TestCase(301, "HEAD", "HEAD")]
    [TestCase(302, "HEAD", "HEAD")]
    [TestCase(307, "HEAD", "HEAD")]
    [TestCase(308, "HEAD", "HEAD")]
    [TestCase(301, "PUT", "PUT")]
    [TestCase(301, "DELETE", "DELETE")]
    [TestCase(301, "OPTIONS", "OPTIONS")]
    [TestCase(302, "GET", "GET")]
    [TestCase(307, "PUT", "PUT")]
    [TestCase(307, "DELETE", "DELETE")]
    public void MethodAfterRedirect_FollowsRfc9110(int status, string method, string expected) => Run(async () =>
    {
        byte[]? body = method is "POST" or "PUT" or "PATCH" ? [] : null;
        HttpResponse response = await FetchAsync($"/redirect?status={status}&url=/all_methods", new HttpRequest("x", method, null, body));
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(response.Headers["method"], Is.EqualTo(expected));
        if (expected == "HEAD")
        {
            Assert.That(response.Body, Is.Empty);
        }
    });

    [Test]
    public void BodyEncoding_TextIsUtf8_BytesAreSentAsTheyAre() => Run(async () =>
    {
        HttpResponse text = await FetchAsync("/echopost", new HttpRequest("x", "POST", null, "\u00e9"));
        Assert.That(text.Body, Is.EqualTo(new byte[] { 0xC3, 0xA9 }));
        HttpResponse bytes = await FetchAsync("/echopost", new HttpRequest("x", "POST", null, new byte[] { 0xE9 }) { UserAgent = "foo" });
        Assert.That(bytes.Body, Is.EqualTo(new byte[] { 0xE9 }));
    });

    [Test]
    public void Gzip_DecompressOff_ReturnsTheRawBody_On_DecodesIt() => Run(async () =>
    {
        var headers = new HttpHeaders { { "Accept-Encoding", "gzip" } };
        HttpResponse raw = await FetchAsync("/gzip", new HttpRequest("x", "GET", headers) { DecompressResponse = false });
        Assert.That(raw.Headers["Content-Encoding"], Is.EqualTo("gzip"));
        using (var gzip = new GZipStream(raw.BodyStream, CompressionMode.Decompress))
        using (var reader = new StreamReader(gzip))
        {
            Assert.That(reader.ReadToEnd(), Is.EqualTo("asdfqwer"));
        }

        HttpResponse decoded = await FetchAsync("/gzip");
        Assert.That(Text(decoded), Is.EqualTo("asdfqwer"));
        Assert.That(decoded.Headers.Contains("Content-Encoding"), Is.False);
        Assert.That(decoded.Headers["X-Consumed-Content-Encoding"], Is.EqualTo("gzip"));
    });

    [Test]
    public void DecompressingABodyAtTheLimit_AllocatesAboutOnceItsSize() => Run(async () =>
    {
        // Past 1 MiB the decoded bytes are only counted and the raw ones kept, then decoded again
        // into the response's array: no second copy of the body (the segments and then one
        // array made 2.1x; a doubling array, 2.6x).
        const int Size = 8 * 1024 * 1024;
        byte[] text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, Size / 8).Select(i => $"{i % 10_000_000:D7},")));
        byte[] gzip;
        using (var output = new MemoryStream())
        {
            using (var compressor = new GZipStream(output, CompressionLevel.Optimal))
            {
                compressor.Write(text);
            }

            gzip = output.ToArray();
        }

        using var raw = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync([.. Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {gzip.Length}\r\n\r\n"), .. gzip]);
            }
        });
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = Size });

        // Once first, so that what is measured is a body's own cost, not the first filling of
        // the array pool the segments are rented from (the same in every test order).
        Assert.That((await client.FetchAsync(raw.Url())).Body, Has.Length.EqualTo(text.Length));
        long before = GC.GetAllocatedBytesForCurrentThread();
        HttpResponse response = await client.FetchAsync(raw.Url());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(response.Body, Is.EqualTo(text));
        Assert.That(allocated, Is.LessThan(Size * 1.4), $"{allocated / (double)Size:F2}x of the body");
    });

    [Test]
    public void GzipBomb_StopsAtMaxBodySize() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 1024 * 1024 });
        HttpResponse response = await client.FetchAsync(Server.Url("/bomb"), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>().Or.InstanceOf<HttpBodyTooLargeError>());
        Assert.That(response.Error!.Message, Does.Contain("larger than the limit"));
    });

    [Test]
    public void HeaderCallback_GetsTheStatusLineFieldsAndTheEnd_BeforeTheBody() => Run(async () =>
    {
        var lines = new List<string>();
        var chunks = new List<string>();
        HttpResponse response = await FetchAsync("/chunk", new HttpRequest("x")
        {
            HeaderCallback = lines.Add,
            StreamingCallback = data =>
            {
                Assert.That(lines, Has.Some.StartsWith("Content-Type").IgnoreCase.Or.Some.EqualTo("\r\n"));
                chunks.Add(Encoding.ASCII.GetString(data.Span));
            },
        });
        Assert.That(lines[0], Does.Match(@"^HTTP/1\.[01] 200 .*\r\n$"));
        Assert.That(lines[^1], Is.EqualTo("\r\n"));
        Assert.That(lines.Skip(1).SkipLast(1), Has.All.Match(@"^[^:\r\n]+: .*\r\n$"));
        Assert.That(chunks, Is.EqualTo(new[] { "asdf", "qwer" }));

        var parsed = new HttpHeaders();
        foreach (string line in lines.Skip(1))
        {
            parsed.ParseLine(line);
        }

        Assert.That(parsed.Select(field => field.Value), Has.None.EndsWith(" "));
        Assert.That(response.Headers.Count, Is.GreaterThan(0));
    });

    [Test]
    public void FoldedResponseHeader_IsUnfolded() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nX-XSS-Protection: 1;\r\n\tmode=block\r\nContent-Length: 0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Headers["X-XSS-Protection"], Is.EqualTo("1; mode=block"));
    });

    [Test]
    public void RequestHeaderValue_GoesOutAsLatin1() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        var headers = new HttpHeaders { { "Foo", "b\u00e4r" } };
        await Client.FetchAsync(new HttpRequest(raw.Url(), headers: headers));
        Assert.That(raw.Requests.Single(), Does.Contain("Foo: b\u00e4r\r\n"));
    });

    [Test]
    public void NonAsciiResponseHeader_IsDecodedAsLatin1() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nFoo: \u00e9\r\nContent-Length: 0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Headers["Foo"], Is.EqualTo("\u00e9"));
    });

    [Test]
    public void Response304WithContentLength_KeepsTheHeader_AndDoesNotWaitForABody() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/304_with_content_length");
        Assert.That(response.Code, Is.EqualTo(304));
        Assert.That(response.Headers["Content-Length"], Is.EqualTo("42"));
    });

    [Test]
    public void NotFound_RaisesHttpClientError_OrReturnsTheResponse() => Run(async () =>
    {
        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await Client.FetchAsync(Server.Url("/notfound")));
        Assert.That(error.Code, Is.EqualTo(404));
        Assert.That(error.Response!.Code, Is.EqualTo(404));
        Assert.That(error.Message, Is.EqualTo("HTTP 404: Not Found"));

        HttpResponse response = await Client.FetchAsync(Server.Url("/notfound"), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(404));
        Assert.That(response.Error, Is.TypeOf<HttpClientError>());
    });

    [Test]
    public void ResponseRequest_IsTheCallersRequest_AndCanBeFetchedAgain() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/hello"));
        HttpResponse response = await Client.FetchAsync(request);
        Assert.That(response.Request, Is.SameAs(request));
        Assert.That((await Client.FetchAsync(response.Request)).Code, Is.EqualTo(200));
    });

    [Test]
    public void NetworkInterface_AnAddressWorks_AGarbageNameFailsNamingIt() => Run(async () =>
    {
        Assert.That((await FetchAsync("/hello", new HttpRequest("x") { NetworkInterface = "127.0.0.1" })).Code, Is.EqualTo(200));
        HttpResponse bad = await FetchAsync("/hello", new HttpRequest("x") { NetworkInterface = "not-interface-or-ip" });
        Assert.That(bad.Code, Is.EqualTo(599));
        Assert.That(bad.Error!.Message, Does.Contain("not-interface-or-ip"));
    });

    [TestCase("GET", null, "GET")]
    [TestCase("DELETE", null, "DELETE")]
    [TestCase("OPTIONS", null, "OPTIONS")]
    [TestCase("POST", "", "POST")]
    [TestCase("PUT", "", "PUT")]
    [TestCase("PATCH", "", "PATCH")]
    [TestCase("HEAD", null, "HEAD")]
    public void AllMethods_ReachTheServer(string method, string? body, string expected) => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/all_methods", new HttpRequest("x", method, null, body is null ? null : Encoding.UTF8.GetBytes(body)));
        Assert.That(response.Headers["method"], Is.EqualTo(expected));
    });

    [Test]
    public void BodyOnAMethodThatHasNone_IsSentWithItsMethodWhenAllowed() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/echopost", new HttpRequest("x", "DELETE", null, "asdf") { AllowNonstandardMethods = true });
        Assert.That(Text(response), Is.EqualTo("asdf"));
        HttpResponse method = await FetchAsync("/all_methods", new HttpRequest("x", "DELETE", null, "asdf") { AllowNonstandardMethods = true });
        Assert.That(method.Headers["method"], Is.EqualTo("DELETE"));
    });

    [Test]
    public void NonstandardMethod_IsSentWhenAllowed() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        await Client.FetchAsync(new HttpRequest(raw.Url("/x"), "OTHER") { AllowNonstandardMethods = true });
        Assert.That(raw.Requests.Single(), Does.StartWith("OTHER /x HTTP/1.1\r\n"));
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(raw.Url("/x"), "OTHER")));
    });

    [TestCase("POST", false, "must not be null")]
    [TestCase("PUT", false, "must not be null")]
    [TestCase("PATCH", false, "must not be null")]
    [TestCase("GET", true, "must be null")]
    [TestCase("DELETE", true, "must be null")]
    [TestCase("OPTIONS", true, "must be null")]
    public void BodySanityChecks_FailAtTheCall(string method, bool withBody, string message)
    {
        var request = new HttpRequest(Server.Url("/all_methods"), method, null, withBody ? "data"u8.ToArray() : null);
        ArgumentException error = Assert.Throws<ArgumentException>(() => Client.FetchAsync(request, raiseError: false))!;
        Assert.That(error.Message, Does.Contain(message));
    }

    [Test]
    public void BodySanityChecks_AllowNonstandardMethods_LiftsThem() => Run(async () =>
    {
        HttpResponse delete = await FetchAsync("/all_methods", new HttpRequest("x", "DELETE", null, "data"u8.ToArray()) { AllowNonstandardMethods = true });
        Assert.That(delete.Headers["method"], Is.EqualTo("DELETE"));
        HttpResponse post = await FetchAsync("/all_methods", new HttpRequest("x", "POST") { AllowNonstandardMethods = true });
        Assert.That(post.Headers["method"], Is.EqualTo("POST"));
    });

    [TestCase("foo\r\nbar")]
    [TestCase("foo\rbar")]
    [TestCase("foo\nbar")]
    public void CrLfInAHeader_IsRefusedBeforeAnythingIsSent(string evil)
    {
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { "X-Foo", evil } })));
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { evil, "value" } })));
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello") + "?" + evil)));
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello"), "GET\r\nX: y")));
    }

    [Test]
    public void ZeroTimeouts_MeanNoLimit() => Run(async () =>
    {
        foreach ((TimeSpan connect, TimeSpan request) in new[] { (TimeSpan.Zero, TimeSpan.FromSeconds(5)), (TimeSpan.FromSeconds(5), TimeSpan.Zero), (TimeSpan.Zero, TimeSpan.Zero) })
        {
            HttpResponse response = await FetchAsync("/hello", new HttpRequest("x") { ConnectTimeout = connect, RequestTimeout = request });
            Assert.That(response.Code, Is.EqualTo(200));
        }
    });

    [Test]
    public void CrossOriginRedirect_DropsCredentials_SameOriginKeepsThem() => Run(async () =>
    {
        foreach ((string target, bool kept) in new[] { (Server.OtherUrl("/echo_header?name=Authorization"), false), ("/echo_header?name=Authorization", true) })
        {
            var request = new HttpRequest("x", headers: new HttpHeaders { { "Authorization", "Bearer secret" } });
            HttpResponse response = await FetchAsync("/redirect?status=302&url=" + Uri.EscapeDataString(target), request);
            Assert.That(Text(response), Is.EqualTo(kept ? "Bearer secret" : string.Empty), target);

            HttpResponse auth = await FetchAsync("/redirect?status=302&url=" + Uri.EscapeDataString(target), new HttpRequest("x") { AuthUsername = "me", AuthPassword = "pw" });
            Assert.That(Text(auth), kept ? Does.StartWith("Basic ") : Is.Empty, target);

            var cookie = new HttpRequest("x", headers: new HttpHeaders { { "Cookie", "a=b" }, { "User-Agent", "Kept" } });
            string cookieTarget = target.Replace("Authorization", "Cookie");
            Assert.That(Text(await FetchAsync("/redirect?status=302&url=" + Uri.EscapeDataString(cookieTarget), cookie)), Is.EqualTo(kept ? "a=b" : string.Empty), cookieTarget);
            string agentTarget = target.Replace("Authorization", "User-Agent");
            Assert.That(Text(await FetchAsync("/redirect?status=302&url=" + Uri.EscapeDataString(agentTarget), cookie)), Is.EqualTo("Kept"), agentTarget);
        }
    });

    [Test]
    public void ConfigureDefaults_FillWhatTheRequestLeavesUnset() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { Defaults = new HttpFetchOptions { UserAgent = "TestDefaultUserAgent", AllowIpv6 = false } });
        Assert.That(Text(await client.FetchAsync(Server.Url("/user_agent"))), Is.EqualTo("TestDefaultUserAgent"));
        Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.Url("/user_agent")) { UserAgent = "Mine" })), Is.EqualTo("Mine"));
    });

    [Test]
    public void CancelledFetch_AbortsAndFreesTheConnection() => Run(async () =>
    {
        using var cancel = new CancellationTokenSource();
        Task<HttpResponse> fetch = Client.FetchAsync(Server.Url("/hang"), cancellationToken: cancel.Token);
        while (Client.ActiveCount == 0)
        {
            await Task.Yield();
        }

        cancel.Cancel();
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await fetch);
        Assert.That(Client.ActiveCount, Is.Zero);
    });

    [Test]
    public void CancelledAtOnce_AFetchThatWouldFail_IsCancelledNotFailed_AndNothingIsLost() => Run(async () =>
    {
        // Tornado's test_error_after_cancel: there the 404 still arrives and is logged; here the
        // cancellation aborts the transfer, so the task is cancelled, no error surfaces anywhere
        // (the teardown fails on an unexpected log entry), and the client goes on working.
        using var cancel = new CancellationTokenSource();
        Task<HttpResponse> fetch = Client.FetchAsync(Server.Url("/no_such_page"), cancellationToken: cancel.Token);
        cancel.Cancel();
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await fetch);
        Assert.That(fetch.IsCanceled, Is.True);
        Assert.That((await Client.FetchAsync(Server.Url("/no_such_page"), raiseError: false)).Code, Is.EqualTo(404));
        Assert.That(Client.ActiveCount, Is.Zero);
    });

    [Test]
    public void RequestTimeout_ServerNeverAnswers_FailsWithTimeoutDuringRequest() => Run(async () =>
    {
        HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () =>
            await Client.FetchAsync(new HttpRequest(Server.Url("/hang")) { RequestTimeout = TimeSpan.FromMilliseconds(100) }));
        Assert.That(error.Message, Is.EqualTo("Timeout during request"));
        Assert.That(error.Code, Is.EqualTo(599));
    });

    [Test]
    public void ConnectionRefused_Is599WithTheSocketErrorInside() => Run(async () =>
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        HttpClientError error = (HttpClientError)(await Client.FetchAsync($"http://127.0.0.1:{port}/", raiseError: false)).Error!;
        Assert.That(error.Code, Is.EqualTo(599));
        Assert.That(error.GetBaseException(), Is.TypeOf<SocketException>().With.Property("SocketErrorCode").EqualTo(SocketError.ConnectionRefused));

        HttpResponse response = await Client.FetchAsync($"http://127.0.0.1:{port}/", raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpClientError>());
        Assert.That(((HttpClientError)response.Error!).Response, Is.SameAs(response));
    });

    [Test]
    public void MalformedStatusLine_FailsAtOnceWithAProtocolError() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n");
            connection.KeepOpen = true;
        });
        // A protocol error, not the timeout's: it failed at once.
        HttpProtocolError error = await AsyncAssert.ThrowsAsync<HttpProtocolError>(async () =>
            await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromSeconds(15) }));

        // Each client in its own words: ours quotes the line, libcurl names what it disliked.
        Assert.That(error.Message, Does.Contain("Malformed HTTP response start line").Or.Contain("Unsupported HTTP version in response"));
    });

    [Test]
    public void AsyncStreamingCallback_IsAwaitedBeforeMoreOfTheBodyIsRead() => Run(async () =>
    {
        // Tornado's test_streaming_callback_coroutine: the server sends the body in two parts,
        // the second once the callback holds the first; the callback is not called again
        // until its task completes.
        var firstHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource();
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nasdf");
            await firstHeld.Task;
            await connection.WriteAsync("qwer");
            secondSent.SetResult();
        });
        var chunks = new List<string>();
        var lines = new List<string>();
        var request = new HttpRequest(server.Url("/"))
        {
            HeaderCallback = lines.Add,
            AsyncStreamingCallback = async data =>
            {
                chunks.Add(Encoding.ASCII.GetString(data.Span));
                if (chunks.Count == 1)
                {
                    firstHeld.SetResult();
                    await release.Task;
                }
            },
        };
        Task<HttpResponse> fetch = Client.FetchAsync(request);
        await secondSent.Task.WaitAsync(TestTimeout);

        // The second part is in the socket; let the loop turn a few times: nothing more is read.
        for (int i = 0; i < 20; i++)
        {
            await Task.Yield();
        }

        Assert.That(chunks, Is.EqualTo(new[] { "asdf" }));
        release.SetResult();
        HttpResponse response = await fetch;
        Assert.That(chunks, Is.EqualTo(new[] { "asdf", "qwer" }));
        Assert.That(response.Body, Is.Empty);
        Assert.That(lines.Count(line => line.StartsWith("HTTP/", StringComparison.Ordinal)), Is.EqualTo(1));
    });

    [Test]
    public void AsyncStreamingCallback_StillWritingTheLastPiece_TheFetchCompletesOnlyWhenItIsDone() => Run(async () =>
    {
        // The whole body comes in one read, so the client reaches the end of the response while
        // the callback still holds it (as a fetcher writing to a file does): the fetch must wait
        // for the callback, or the caller would find the body not yet written.
        var written = new StringBuilder();
        var request = new HttpRequest(Server.Url("/hello"))
        {
            AsyncStreamingCallback = data =>
            {
                string piece = Encoding.ASCII.GetString(data.Span);
                var done = new TaskCompletionSource();
                Loop.CallLater(TimeSpan.FromMilliseconds(20), () =>
                {
                    written.Append(piece);
                    done.SetResult();
                });
                return new ValueTask(done.Task);
            },
        };

        HttpResponse response = await Client.FetchAsync(request);
        Assert.That(written.ToString(), Is.EqualTo("Hello world!"));
        Assert.That(response.Body, Is.Empty);
    });

    [Test]
    public void AsyncStreamingCallback_FailingOnTheLastPiece_FailsTheFetch() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/hello"))
        {
            AsyncStreamingCallback = _ =>
            {
                var done = new TaskCompletionSource();
                Loop.CallLater(TimeSpan.FromMilliseconds(20), () => done.SetException(new IOException("disk full")));
                return new ValueTask(done.Task);
            },
        };

        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(() => Client.FetchAsync(request));
        Assert.That(error.Code, Is.EqualTo(599));
        Assert.That(error.InnerException, Is.TypeOf<IOException>().With.Message.EqualTo("disk full"));
    });

    [Test]
    public void AsyncStreamingCallback_WithTheSynchronousOne_IsRefusedAtTheCall()
    {
        var request = new HttpRequest(Server.Url("/hello")) { StreamingCallback = _ => { }, AsyncStreamingCallback = _ => ValueTask.CompletedTask };
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(request));
    }
}
