using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>Tornado's SimpleHTTPClientTestMixin and the other classes of simple_httpclient_test.py, plus keep-alive.</summary>
public sealed class SimpleHttpClientTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    [Test]
    public void ConnectionLimit_QueuesTheRest_InOrder() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        var done = new List<int>();
        var fetches = Enumerable.Range(0, 4).Select(async i =>
        {
            // Resumes on the loop thread, so the list is only touched there.
            await client.FetchAsync(Server.Url($"/trigger?i={i}"));
            done.Add(i);
        }).ToArray();
        Assert.That(client.ActiveCount, Is.EqualTo(2));
        Assert.That(client.QueuedCount, Is.EqualTo(2));
        await ReleaseAsync(2);
        await Task.WhenAll(fetches[0], fetches[1]);
        Assert.That(done, Is.EquivalentTo(new[] { 0, 1 }));
        Assert.That(client.QueuedCount, Is.Zero);
        await ReleaseAsync(2);
        await Task.WhenAll(fetches);
        Assert.That(done.Skip(2), Is.EquivalentTo(new[] { 2, 3 }));
    });

    [Test]
    public void RedirectsWithOneSlot_DoNotDeadlock() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        HttpResponse response = await client.FetchAsync(Server.Url("/countdown/3"));
        Assert.That(Text(response), Is.EqualTo("Zero"));
    });

    [Test]
    public void MaxRedirects_ReturnsTheLast3xx() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/countdown/5", new HttpRequest("x") { MaxRedirects = 3 });
        Assert.That(response.Code, Is.EqualTo(302));
        Assert.That(response.Request.Url, Does.EndWith("/countdown/5"));
        Assert.That(response.EffectiveUrl, Does.EndWith("/countdown/2"));
        Assert.That(response.Headers["Location"], Does.EndWith("/countdown/1"));
    });

    [Test]
    public void DefaultUserAgent_IsSent() => Run(async () =>
    {
        Assert.That(Text(await FetchAsync("/user_agent")), Is.EqualTo(SimpleAsyncHttpClient.DefaultUserAgent));
    });

    [TestCase("302")]
    [TestCase("303")]
    public void SeeOther_PostBecomesAGetWithoutBody(string status) => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/see_other_post", new HttpRequest("x", "POST", null, status));
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(response.Request.Url, Does.EndWith("/see_other_post"));
        Assert.That(response.Request.Method, Is.EqualTo("POST"));
        Assert.That(response.EffectiveUrl, Does.EndWith("/see_other_get"));
    });

    [Test]
    public void ConnectTimeout_CountsTheResolver() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { Resolver = new NeverResolver() });
        HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () =>
            await client.FetchAsync(new HttpRequest("http://example.invalid/") { ConnectTimeout = TimeSpan.FromMilliseconds(100), RequestTimeout = TimeSpan.FromHours(1) }));
        Assert.That(error.Message, Is.EqualTo("Timeout while connecting"));
    });

    [Test]
    public void Ipv6Literal_Works_AndAllowIpv6FalseRefusesIt() => Run(async () =>
    {
        using var raw = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        raw.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        raw.Listen(4);
        int port = ((IPEndPoint)raw.LocalEndPoint!).Port;
        _ = Task.Run(async () =>
        {
            using Socket accepted = await raw.AcceptAsync();
            var buffer = new byte[4096];
            await accepted.ReceiveAsync(buffer);
            await accepted.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv6"u8.ToArray());
        });
        HttpResponse response = await Client.FetchAsync($"http://[::1]:{port}/");
        Assert.That(Text(response), Is.EqualTo("v6"));
        HttpResponse refused = await Client.FetchAsync(new HttpRequest($"http://[::1]:{port}/") { AllowIpv6 = false }, raiseError: false);
        Assert.That(refused.Code, Is.EqualTo(599));
    });

    [TestCase("2,2", true)]
    [TestCase("2, 2,2", true)]
    [TestCase("2,4", false)]
    [TestCase("2, 2,3", false)]
    public void MultipleContentLengths_EqualAreOne_UnequalAreAnError(string value, bool accepted) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding($"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\nok");
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        if (accepted)
        {
            Assert.That(Text(response), Is.EqualTo("ok"));
        }
        else
        {
            Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>().With.Message.Contains("Multiple unequal Content-Lengths"));
        }
    });

    [Test]
    public void Head_HasNoBody_AndDoesNotWaitForOne() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/head", new HttpRequest("x", "HEAD"));
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(response.Headers["Content-Length"], Is.EqualTo("7"));
        Assert.That(response.Body, Is.Empty);
        Assert.That(Text(await FetchAsync("/head")), Is.EqualTo("1234567"), "the connection is still in step after the HEAD");
    });

    [Test]
    public void NoContent_HasCode204AndNoBody_ButA204WithABodyIsAnError() => Run(async () =>
    {
        HttpResponse response = await FetchAsync("/no_content");
        Assert.That(response.Code, Is.EqualTo(204));
        Assert.That(response.Body, Is.Empty);

        using var raw = RawHttpServer.Responding("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello");
        HttpResponse bad = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(bad.Error, Is.InstanceOf<HttpStreamClosedError>().With.Message.Contains("should not have body"));
    });

    [Test]
    public void HostHeader_HasThePort_AndNoCredentials() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        await Client.FetchAsync($"http://me:secret@127.0.0.1:{raw.Port}/x");
        Assert.That(raw.Requests.Single(), Does.Contain($"\r\nHost: 127.0.0.1:{raw.Port}\r\n"));
    });

    [Test]
    public void QueueTimeout_SaysSo() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Task<HttpResponse> first = client.FetchAsync(Server.Url("/trigger"));
        HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () =>
            await client.FetchAsync(new HttpRequest(Server.Url("/hello")) { ConnectTimeout = TimeSpan.FromMilliseconds(100) }));
        Assert.That(error.Message, Is.EqualTo("Timeout in request queue"));
        await ReleaseAsync(1);
        await first;
    });

    [Test]
    public void Http10WithoutContentLength_IsReadUntilClose() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.0 200 OK\r\n\r\nhello");
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(Text(response), Is.EqualTo("hello"));
    });

    [TestCase("HTTP/1.1", "", 1)]
    [TestCase("HTTP/1.1", "Connection: Close\r\n", 2)]
    [TestCase("HTTP/1.1", "Connection: keep-alive, close\r\n", 2)]
    [TestCase("HTTP/1.1", "Connection: closed\r\n", 1)]
    [TestCase("HTTP/1.0", "", 2)]
    [TestCase("HTTP/1.0", "Connection: Keep-Alive\r\n", 1)]
    [TestCase("HTTP/1.0", "Connection: upgrade , keep-alive\r\n", 1)]
    [TestCase("HTTP/1.0", "Connection: keep-alives\r\n", 2)]
    public void ConnectionHeaderTokens_DecideWhetherTheConnectionIsKept(string version, string connectionField, int connections) => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            connection.KeepOpen = true;
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync($"{version} 200 OK\r\nContent-Length: 2\r\n{connectionField}\r\nok");
            }
        });
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(connections), "connections the two requests used");
    });

    [TestCase(false)]
    [TestCase(true)]
    public void BodyProducer_IsSentChunkedOrWithItsLength(bool withLength) => Run(async () =>
    {
        var headers = new HttpHeaders();
        if (withLength)
        {
            headers.Add("Content-Length", "8");
        }

        var request = new HttpRequest(Server.Url("/echopost"), "POST", headers)
        {
            BodyProducer = async write =>
            {
                await write("1234"u8.ToArray());
                await Task.Yield();
                await write("5678"u8.ToArray());
            },
        };
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("12345678"));
    });

    [Test]
    public void Expect100Continue_SendsTheBodyAfterTheServerAgrees() => Run(async () =>
    {
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.Url("/echopost"), "POST", null, "1234") { Expect100Continue = true });
        Assert.That(Text(response), Is.EqualTo("1234"));
    });

    [Test]
    public void Expect100Continue_AnEarlyFinalResponse_NeverRunsTheProducer() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync(readBody: false);
            await connection.WriteAsync("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        });
        var request = new HttpRequest(raw.Url(), "POST")
        {
            Expect100Continue = true,
            BodyProducer = _ => throw new AssertionException("the body must not be produced"),
        };
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(403));
    });

    [Test]
    public void UnrequestedContinue_IsSkipped() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 100 CONTINUE\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("A"));
    });

    [Test]
    public void FollowedRedirects_CallbacksSeeOnlyTheFinalResponse() => Run(async () =>
    {
        var lines = new List<string>();
        var chunks = new List<string>();
        await FetchAsync("/redirect?status=302&url=/hello", new HttpRequest("x") { HeaderCallback = lines.Add, StreamingCallback = data => chunks.Add(Encoding.ASCII.GetString(data.Span)) });
        Assert.That(string.Concat(chunks), Is.EqualTo("Hello world!"));
        Assert.That(lines.Count(line => line.StartsWith("HTTP/", StringComparison.Ordinal)), Is.EqualTo(1));
    });

    [Test]
    public void HostnameMapping_MapsHostsAndHostPorts() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings
        {
            HostnameMapping = new Dictionary<string, string> { ["www.example.com"] = "127.0.0.1", ["foo.example.com:8000"] = $"127.0.0.1:{Server.Port}" },
        });
        Assert.That(Text(await client.FetchAsync($"http://www.example.com:{Server.Port}/hello")), Is.EqualTo("Hello world!"));
        Assert.That(Text(await client.FetchAsync("http://foo.example.com:8000/hello")), Is.EqualTo("Hello world!"));
    });

    [TestCase(100, true)]
    [TestCase(1000, false)]
    public void MaxHeaderSize_LimitsTheHeaderBlock(int headerLength, bool ok) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding($"HTTP/1.1 200 OK\r\nX-Filler: {new string('a', headerLength)}\r\nContent-Length: 0\r\n\r\n");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxHeaderSize = 1024 });
        HttpResponse response = await client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(ok ? 200 : 599));
        if (!ok)
        {
            Assert.That(response.Error, Is.TypeOf<HttpProtocolError>().With.Message.Contains("MaxHeaderSize"));
        }
    });

    [TestCase(64 * 1024, 64 * 1024, 0, true)]
    [TestCase(100 * 1024, 64 * 1024, 0, false)]
    [TestCase(100 * 1024, 100 * 1024, 64 * 1024, true)]
    public void MaxBodySize_LimitsTheBody_MaxBufferSizeDoesNot(int size, int maxBody, int maxBuffer, bool ok) => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = maxBody, MaxBufferSize = maxBuffer == 0 ? null : maxBuffer });
        HttpResponse response = await client.FetchAsync(Server.Url($"/large?size={size}"), raiseError: false);
        if (ok)
        {
            Assert.That(response.Body, Has.Length.EqualTo(size));
        }
        else
        {
            Assert.That(response.Error, Is.TypeOf<HttpBodyTooLargeError>().With.Message.Contains("Content-Length too long"));
            var error = (HttpBodyTooLargeError)response.Error!;
            Assert.That(error.Limit, Is.EqualTo(maxBody));
            Assert.That(error.DeclaredLength, Is.EqualTo(size));
        }
    });

    [Test]
    public void ChunkedWithContentLength_IsAnError() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>().With.Message.Contains("both Transfer-Encoding and Content-Length"));
    });

    [TestCase("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "after 5 of 10 body bytes")]
    [TestCase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "Invalid chunk size")]
    [TestCase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc", "Stream closed")]
    [TestCase("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length")]
    [TestCase("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "Malformed HTTP header line")]
    public void TruncatedOrMalformedBodies_AreErrorsNeverAShortSuccess(string reply, string message) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(reply);
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>().With.Message.Contains(message));
    });

    [Test]
    public void KeepAlive_SequentialFetchesShareOneConnection() => Run(async () =>
    {
        string tag = Guid.NewGuid().ToString("N");
        var request = new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { "X-Tag", tag } });
        for (int i = 0; i < 5; i++)
        {
            Assert.That((await Client.FetchAsync(request)).Code, Is.EqualTo(200));
        }

        Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(1));
        Assert.That(((SimpleAsyncHttpClient)Client).IdleConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void KeepAlive_ConnectionCloseFromTheServer_IsNotReused() => Run(async () =>
    {
        string tag = Guid.NewGuid().ToString("N");
        var request = new HttpRequest(Server.Url("/close"), headers: new HttpHeaders { { "X-Tag", tag } });
        await Client.FetchAsync(request);
        await Client.FetchAsync(request);
        Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(2));
        Assert.That(((SimpleAsyncHttpClient)Client).IdleConnectionCount, Is.Zero);
    });

    [Test]
    public void KeepAlive_IdleConnectionDroppedByTheServer_IsNotUsedAndTheFetchSucceeds() => Run(async () =>
    {
        var served = 0;
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Answers one request per connection, keep-alive in words, then drops the connection.
            await connection.ReadRequestAsync();
            Interlocked.Increment(ref served);
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(2));
    });

    [Test]
    public void KeepAlive_ResetAfterTheRequestWasSent_IsRetriedOnceForAGet() => Run(async () =>
    {
        int connections = 0;
        using var raw = RawHttpServer.Start(async connection =>
        {
            int n = Interlocked.Increment(ref connections);
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            if (n == 1)
            {
                // Take the second request on this connection, then reset it without answering.
                await connection.ReadRequestAsync();
                connection.Socket.LingerState = new LingerOption(true, 0);
            }
        });
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(connections, Is.EqualTo(2));
    });

    [Test]
    public void KeepAlive_CancelledOnAKeptConnection_EndsCancelled_FreesItsSlot_AndClosesThatConnection() => Run(async () =>
    {
        // A fetch on a kept connection runs without the client's async method: the connection
        // ends it directly. Cancelled there, it must still end cancelled, give its slot back
        // (one slot here, so a leak would stall the next fetch) and not return the connection.
        var secondArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            if (await connection.ReadRequestAsync() is not null)
            {
                // The second request is never answered: this waits for the client to close.
                secondArrived.TrySetResult();
                await connection.ReadRequestAsync();
            }
        });
        var client = (SimpleAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(client.IdleConnectionCount, Is.EqualTo(1));
        using var cancel = new CancellationTokenSource();
        Task<HttpResponse> second = client.FetchAsync(raw.Url(), cancellationToken: cancel.Token);
        await secondArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cancel.Cancel();
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await second);
        Assert.That(second.IsCanceled, Is.True);
        Assert.That(client.ActiveCount, Is.Zero);
        Assert.That(client.IdleConnectionCount, Is.Zero);
        Assert.That(Text(await client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(2));
    });

    [Test]
    public void RequestTimeout_OnAReusedConnection_IsTheLaterRequestsOwnShorterOne() => Run(async () =>
    {
        // The connection's deadline timer was armed for the first request's minute: the second
        // request's shorter deadline must still cut it.
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            await connection.ReadRequestAsync();
            await connection.ReadRequestAsync(); // never comes: the second request is not answered
        });
        Assert.That(Text(await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromMinutes(1) })), Is.EqualTo("ok"));
        HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () =>
            await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromMilliseconds(300) }));
        Assert.That(error.Phase, Is.EqualTo(HttpTimeoutPhase.Request));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void RequestTimeout_ArmedForAnEarlierShortRequest_DoesNotCutALaterLongerOne() => Run(async () =>
    {
        // The timer armed for the first request's 300 ms fires during the second request, which
        // has a minute: it is armed again for that, and the late answer is taken.
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            await connection.ReadRequestAsync();
            await Task.Delay(800); // a deliberately slow answer, past the first request's deadline
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
        });
        Assert.That(Text(await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromMilliseconds(300) })), Is.EqualTo("ok"));
        Assert.That(Text(await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromMinutes(1) })), Is.EqualTo("late"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void IdleConnectionTimeout_ClosesAConnectionThatWasReusedInBetween() => Run(async () =>
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var raw = RawHttpServer.Start(async connection =>
        {
            for (int i = 0; i < 2; i++)
            {
                await connection.ReadRequestAsync();
                await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }

            if (await connection.ReadRequestAsync() is null)
            {
                closed.TrySetResult();
            }
        });
        var client = (SimpleAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { IdleConnectionTimeout = TimeSpan.FromMilliseconds(300) });
        Assert.That(Text(await client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(Text(await client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
        Assert.That(client.IdleConnectionCount, Is.EqualTo(1));

        // The client closes the idle connection by itself; the server sees its end.
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(client.IdleConnectionCount, Is.Zero);
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void KeepAlive_FieldsRepeatedFromThePreviousResponse_AreReadAsTheyAreNow() => Run(async () =>
    {
        // The parser reuses a field line identical to the previous response's at the same place:
        // a changed value of the same length, a folded continuation after a repeated line, and
        // fields that move must all come out as this response says.
        string[] responses =
        [
            "HTTP/1.1 200 OK\r\nX-A: one\r\nDate: Sun, 29 Nov 2026 10:00:00 GMT\r\nContent-Length: 1\r\n\r\n1",
            "HTTP/1.1 200 OK\r\nX-A: one\r\nDate: Sun, 29 Nov 2026 10:00:01 GMT\r\nContent-Length: 1\r\n\r\n2",
            "HTTP/1.1 200 OK\r\nX-A: one\r\n  more\r\nDate: Sun, 29 Nov 2026 10:00:01 GMT\r\nContent-Length: 1\r\n\r\n3",
            "HTTP/1.1 200 OK\r\nDate: Sun, 29 Nov 2026 10:00:01 GMT\r\nX-A: one\r\nContent-Length: 1\r\n\r\n4",
        ];
        using var raw = RawHttpServer.Start(async connection =>
        {
            foreach (string response in responses)
            {
                await connection.ReadRequestAsync();
                await connection.WriteAsync(response);
            }
        });
        var seen = new List<(string Body, string A, string Date, int Count)>();
        for (int i = 0; i < responses.Length; i++)
        {
            HttpResponse response = await Client.FetchAsync(raw.Url());
            seen.Add((Text(response), response.Headers["X-A"], response.Headers["Date"], response.Headers.Count));
        }

        Assert.That(seen, Is.EqualTo(new[]
        {
            ("1", "one", "Sun, 29 Nov 2026 10:00:00 GMT", 3),
            ("2", "one", "Sun, 29 Nov 2026 10:00:01 GMT", 3),
            ("3", "one more", "Sun, 29 Nov 2026 10:00:01 GMT", 3),
            ("4", "one", "Sun, 29 Nov 2026 10:00:01 GMT", 3),
        }));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void KeepAlive_ByDefault_KeepsAsManyIdleConnectionsAsMaxClients() => Run(async () =>
    {
        // A steady load at MaxClients must not close and reopen connections between rounds.
        using var raw = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        var client = (SimpleAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 16 });
        for (int round = 0; round < 3; round++)
        {
            HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => client.FetchAsync(raw.Url())));
            Assert.That(responses.Select(Text), Is.All.EqualTo("ok"));
            Assert.That(client.IdleConnectionCount, Is.EqualTo(16));
        }

        Assert.That(raw.ConnectionCount, Is.EqualTo(16));
    });

    [Test]
    public void KeepAlive_EachRequestOnAConnection_SendsItsOwnRequestLineAndFields() => Run(async () =>
    {
        // The request line and the client's own fields are kept encoded: a request that differs
        // in any of them must not go out with the previous one's.
        using var raw = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        HttpRequest[] requests =
        [
            new(raw.Url("/a")),
            new(raw.Url("/a")),
            new(raw.Url("/b")),
            new(raw.Url("/b"), "POST", body: "x"u8.ToArray()),
            new(raw.Url("/b")) { UserAgent = "Other/2" },
            new(raw.Url("/b"), headers: new HttpHeaders { { "User-Agent", "Mine/3" }, { "Accept-Encoding", "identity" } }),
            new(raw.Url("/b")) { DecompressResponse = false },
            new(raw.Url("/a")),
        ];
        foreach (HttpRequest request in requests)
        {
            Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
        }

        string[] heads = [.. raw.Requests];
        Assert.That(heads.Select(head => head.Split("\r\n")[0]), Is.EqualTo(new[]
        {
            "GET /a HTTP/1.1", "GET /a HTTP/1.1", "GET /b HTTP/1.1", "POST /b HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1", "GET /a HTTP/1.1",
        }));
        string[] agents = [.. heads.Select(head => head.Split("\r\n").Single(line => line.StartsWith("User-Agent:", StringComparison.Ordinal)))];
        Assert.That(agents, Is.EqualTo(new[]
        {
            "User-Agent: Loop/1.0", "User-Agent: Loop/1.0", "User-Agent: Loop/1.0", "User-Agent: Loop/1.0", "User-Agent: Other/2", "User-Agent: Mine/3", "User-Agent: Loop/1.0", "User-Agent: Loop/1.0",
        }));
        int[] acceptEncodings = [.. heads.Select(head => head.Split("\r\n").Count(line => line.StartsWith("Accept-Encoding:", StringComparison.Ordinal)))];
        Assert.That(acceptEncodings, Is.EqualTo(new[] { 1, 1, 1, 1, 1, 1, 0, 1 }));
        Assert.That(heads[5], Does.Contain("Accept-Encoding: identity"));
        Assert.That(heads.Select(head => head.Split("\r\n").Count(line => line.StartsWith("Host:", StringComparison.Ordinal))), Is.All.EqualTo(1));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void KeepAlive_TwoOriginsInTurn_EachServerSeesItsOwnHostAndRequestLine() => Run(async () =>
    {
        // The encoded request line and Host are shared by the client's connections: requests that
        // alternate between origins (and between connections) must each carry their own.
        static RawHttpServer Serve() => RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        using RawHttpServer first = Serve();
        using RawHttpServer second = Serve();
        for (int round = 0; round < 3; round++)
        {
            Assert.That(Text(await Client.FetchAsync(first.Url("/one"))), Is.EqualTo("ok"));
            Assert.That(Text(await Client.FetchAsync(second.Url("/two"))), Is.EqualTo("ok"));
        }

        foreach ((RawHttpServer server, string line) in new[] { (first, "GET /one HTTP/1.1"), (second, "GET /two HTTP/1.1") })
        {
            string[] heads = [.. server.Requests];
            Assert.That(heads, Has.Length.EqualTo(3));
            Assert.That(heads.Select(head => head.Split("\r\n")[0]), Is.All.EqualTo(line));
            string host = new Uri(server.Url("/")).Authority;
            Assert.That(heads.Select(head => head.Split("\r\n").Single(field => field.StartsWith("Host:", StringComparison.Ordinal))), Is.All.EqualTo($"Host: {host}"));
            Assert.That(server.ConnectionCount, Is.EqualTo(1));
        }
    });

    [Test]
    public void Close_FreesPooledConnections_AndLaterFetchesThrow() => Run(async () =>
    {
        var client = (SimpleAsyncHttpClient)CreateClient();
        await client.FetchAsync(Server.Url("/hello"));
        Assert.That(client.IdleConnectionCount, Is.EqualTo(1));
        client.Close();
        Assert.That(client.IdleConnectionCount, Is.Zero);
        Assert.Throws<ObjectDisposedException>(() => client.FetchAsync(Server.Url("/hello")));
    });

    [Test]
    public void FetchAsync_FromAnotherThread_RunsOnTheLoop() => Run(async () =>
    {
        HttpResponse response = await Task.Run(() => Client.FetchAsync(Server.Url("/hello")));
        Assert.That(Text(response), Is.EqualTo("Hello world!"));
    });

    [Test]
    public void UnsupportedAuthMode_IsRefusedAndNeverFallsBackToBasic()
    {
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/auth")) { AuthUsername = "a", AuthPassword = "b", AuthMode = HttpAuthMode.Digest }));
    }

    [Test]
    public void Https_TrustingTheTestCaFromAPemFile_Works_AndKeepsTheConnection() => Run(async () =>
    {
        string caFile = TestCertificates.WriteAuthorityPem();
        try
        {
            string tag = Guid.NewGuid().ToString("N");
            var request = new HttpRequest(Server.HttpsUrl("/hello"), headers: new HttpHeaders { { "X-Tag", tag } }) { CaCerts = caFile };
            Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("Hello world!"));
            Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("Hello world!"));
            Assert.That(Server.ConnectionsFor(tag), Is.EqualTo(1));
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [Test]
    public void Https_ValidateCertFalse_AcceptsAnUntrustedCertificate() => Run(async () =>
    {
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.HttpsUrl("/hello")) { ValidateCert = false });
        Assert.That(Text(response), Is.EqualTo("Hello world!"));
    });

    [Test]
    public void Https_DefaultValidation_FailsWith599NamingWhy() => Run(async () =>
    {
        HttpTlsError error = await AsyncAssert.ThrowsAsync<HttpTlsError>(async () => await Client.FetchAsync(Server.HttpsUrl("/hello")));
        Assert.That(error.Code, Is.EqualTo(599));
        Assert.That(error.Reason, Is.EqualTo(TlsFailureReason.UntrustedRoot));
        Assert.That(error.InnerException, Is.TypeOf<TlsHandshakeException>().With.Property("Reason").EqualTo(TlsFailureReason.UntrustedRoot));
    });

    [Test]
    public void Https_SslOptionsWithTheirOwnValidation_OverrideTheDefault() => Run(async () =>
    {
        bool asked = false;
        var options = new System.Net.Security.SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, _, _, _) => asked = true,
        };
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.HttpsUrl("/hello")) { ValidateCert = false, SslOptions = options });
        Assert.That(Text(response), Is.EqualTo("Hello world!"));
        Assert.That(asked, Is.True);
    });

    [Test]
    public void Https_SslOptionsThatRefuseTheCertificate_FailTheHandshake() => Run(async () =>
    {
        // Tornado's test_ssl_options_handshake_fail: the application's own validation says no.
        var options = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => false };
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.HttpsUrl("/hello")) { ValidateCert = false, SslOptions = options }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error!.InnerException, Is.InstanceOf<TlsHandshakeException>());
    });

    private static async Task ReleaseAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            await Server.ReleaseNextAsync();
        }
    }

    private sealed class NeverResolver : IResolver
    {
        public async ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return [];
        }
    }

    [Test]
    public void DigestProxyAuth_IsRefusedAtTheCall()
    {
        // The simple client speaks basic authentication only (curl speaks digest too).
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = 8080, ProxyUsername = "u", ProxyAuthMode = HttpAuthMode.Digest }));
    }

    [Test]
    public void HttpVersionOtherThan11_IsRefusedAtTheCall()
    {
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello")) { HttpVersion = System.Net.HttpVersion.Version20 }));
    }
}
