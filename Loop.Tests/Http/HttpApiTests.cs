using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>The API around the clients: headers, requests, responses, errors, the per-loop instance and the blocking client.</summary>
public sealed class HttpApiTests
{
    private static TestHttpServer Server => TestHttpServer.Shared;

    [TestCase(100, "Continue")]
    [TestCase(200, "OK")]
    [TestCase(226, "IM Used")]
    [TestCase(308, "Permanent Redirect")]
    [TestCase(418, "I'm a Teapot")]
    [TestCase(511, "Network Authentication Required")]
    [TestCase(299, "Unknown")]
    [TestCase(0, "Unknown")]
    [TestCase(600, "Unknown")]
    public void ReasonFor_GivesTheStandardPhrase_OrUnknown(int code, string reason) =>
        Assert.That(HttpStatus.ReasonFor(code), Is.EqualTo(reason));

    [Test]
    public void Headers_AreCaseInsensitiveMultiValuedAndKeepTheirOrder()
    {
        var headers = new HttpHeaders { { "Content-Type", "text/html" }, { "Set-Cookie", "A=B" }, { "set-cookie", "C=D" }, { "X-Multi", "1" }, { "x-multi", "2" } };
        Assert.That(headers["content-type"], Is.EqualTo("text/html"));
        Assert.That(headers.GetAll("SET-COOKIE"), Is.EqualTo(new[] { "A=B", "C=D" }));
        Assert.That(headers["Set-Cookie"], Is.EqualTo("A=B"), "Set-Cookie values cannot be joined: the first, and GetAll for all");
        Assert.That(headers["X-Multi"], Is.EqualTo("1, 2"));
        Assert.That(headers.Names, Is.EqualTo(new[] { "Content-Type", "Set-Cookie", "X-Multi" }));
        headers["x-multi"] = "3";
        Assert.That(headers.GetAll("X-Multi"), Is.EqualTo(new[] { "3" }));
        Assert.That(headers.Remove("CONTENT-TYPE"), Is.True);
        Assert.That(headers.Contains("Content-Type"), Is.False);
        Assert.Throws<KeyNotFoundException>(() => _ = headers["Nope"]);
    }

    [Test]
    public void HeadersParse_UnfoldsContinuationLines_AndAcceptsBareLf()
    {
        HttpHeaders headers = HttpHeaders.Parse("Foo: bar\r\n baz\r\nAsdf: qwer\n\tzxcv\r\nFoo: even\r\n  more\r\n  lines\r\n");
        Assert.That(headers.GetAll("Foo"), Is.EqualTo(new[] { "bar baz", "even more lines" }));
        Assert.That(headers["asdf"], Is.EqualTo("qwer zxcv"));
        Assert.Throws<FormatException>(() => HttpHeaders.Parse("no colon here\r\n"));
        Assert.Throws<FormatException>(() => HttpHeaders.Parse(" leading continuation\r\n"));
    }

    [Test]
    public void HeadersSetDefault_KeepsAnExistingValue_OrAddsTheGivenOne()
    {
        // Tornado's test_setdefault.
        var headers = new HttpHeaders { { "foo", "bar" } };
        Assert.That(headers.SetDefault("foo", "baz"), Is.EqualTo("bar"));
        Assert.That(headers["foo"], Is.EqualTo("bar"));
        Assert.That(headers.SetDefault("quux", "xyzzy"), Is.EqualTo("xyzzy"));
        Assert.That(headers["quux"], Is.EqualTo("xyzzy"));
        Assert.That(headers.Select(field => field.Key), Is.EqualTo(new[] { "foo", "quux" }));
    }

    [Test]
    public void HeadersCopy_IsIndependent_AndToStringParsesBack()
    {
        var headers = new HttpHeaders { { "Foo", "1" }, { "Foo", "2" }, { "Bar", "x" } };
        HttpHeaders copy = headers.Copy();
        copy.Add("Foo", "3");
        copy["Bar"] = "y";
        Assert.That(headers.GetAll("Foo"), Is.EqualTo(new[] { "1", "2" }));
        Assert.That(headers["Bar"], Is.EqualTo("x"));
        Assert.That(copy.GetAll("Foo"), Is.EqualTo(new[] { "1", "2", "3" }));

        HttpHeaders parsed = HttpHeaders.Parse(copy.ToString());
        Assert.That(parsed.GetAll("Foo"), Is.EqualTo(new[] { "1", "2", "3" }));
        Assert.That(parsed["Bar"], Is.EqualTo("y"));
    }

    [Test]
    public void HeadersParse_AFormFeedContinuation_OrControlCharacters_AreErrors()
    {
        Assert.Throws<FormatException>(() => HttpHeaders.Parse("Foo: bar\r\n\fasdf"));
        for (int c = 0; c < 0x20; c++)
        {
            if (c is '\t' or '\r' or '\n')
            {
                continue;
            }

            Assert.Throws<FormatException>(() => HttpHeaders.Parse($"Foo: a{(char)c}b"), $"character 0x{c:x2}");
        }

        Assert.Throws<FormatException>(() => HttpHeaders.Parse("Foo: a\u007fb"));
        Assert.That(HttpHeaders.Parse("Foo: a\tb\u0085c\u00a0")["Foo"], Is.EqualTo("a\tb\u0085c\u00a0"));
    }

    [Test]
    public void Request_TextBodyIsUtf8_AndHeadersCanBeReplacedOrCleared()
    {
        var request = new HttpRequest("http://example.com/", "POST", null, "\u00e9");
        Assert.That(request.Body, Is.EqualTo(Encoding.UTF8.GetBytes("\u00e9")));
        request.SetBody("foo");
        Assert.That(request.Body, Is.EqualTo("foo"u8.ToArray()));
        request.Headers = new HttpHeaders { { "Foo", "bar" } };
        Assert.That(request.Headers["Foo"], Is.EqualTo("bar"));
        request.Headers = null!;
        Assert.That(request.Headers.Count, Is.Zero);
        Assert.That(request.ToString(), Does.Not.Contain("Password"));
    }

    [Test]
    public void RequestDefaults_RequestWins_ThenTheClientsDefaults_ThenTornados()
    {
        var request = new HttpRequest("http://example.com/") { UserAgent = "foo", ProxyHost = "foo" };
        var defaults = new HttpFetchOptions { NetworkInterface = "eth9", ProxyHost = "bar" };
        request.Headers.Add("X-Own", "1");
        var effective = new HttpRequest(string.Empty);
        request.CopyWithDefaults(effective, defaults);
        Assert.That(effective.UserAgent, Is.EqualTo("foo"));
        Assert.That(effective.NetworkInterface, Is.EqualTo("eth9"));
        Assert.That(effective.ProxyHost, Is.EqualTo("foo"));
        Assert.That(effective.AuthUsername, Is.Null);
        Assert.That(effective.RequestTimeout, Is.EqualTo(TimeSpan.FromSeconds(20)));
        Assert.That(effective.MaxRedirects, Is.EqualTo(5));
        Assert.That(effective.DecompressResponse, Is.True);
        Assert.That(effective.ValidateCert, Is.True);
        Assert.That(request.NetworkInterface, Is.Null, "the caller's request is not changed");
        Assert.That(effective.Headers, Is.Not.SameAs(request.Headers));
        Assert.That(effective.Headers["X-Own"], Is.EqualTo("1"));

        // Reused for a request without headers, the copy keeps none of the last one's.
        new HttpRequest("http://example.com/other").CopyWithDefaults(effective, defaults);
        Assert.That(effective.Headers.Count, Is.Zero);
        Assert.That(effective.Url, Is.EqualTo("http://example.com/other"));
        Assert.That(effective.UserAgent, Is.Null);
    }

    [Test]
    public void RequestCopy_CarriesEveryOption()
    {
        // Every settable property of the request gets a value that is not a default, so an option
        // the copy forgets shows up as a difference.
        var request = new HttpRequest("http://example.com/", "PUT", null, [1, 2, 3]);
        var values = new Dictionary<Type, object>
        {
            [typeof(string)] = "x",
            [typeof(HttpAuthMode?)] = HttpAuthMode.Digest,
            [typeof(TimeSpan?)] = TimeSpan.FromSeconds(7),
            [typeof(DateTimeOffset?)] = DateTimeOffset.UnixEpoch,
            [typeof(bool?)] = false,
            [typeof(int?)] = 9,
            [typeof(Action<ReadOnlyMemory<byte>>)] = (Action<ReadOnlyMemory<byte>>)(_ => { }),
            [typeof(Func<ReadOnlyMemory<byte>, ValueTask>)] = (Func<ReadOnlyMemory<byte>, ValueTask>)(_ => ValueTask.CompletedTask),
            [typeof(Version)] = new Version(2, 0),
            [typeof(Action<string>)] = (Action<string>)(_ => { }),
            [typeof(Action<ICurlHandle>)] = (Action<ICurlHandle>)(_ => { }),
            [typeof(System.Net.Security.SslClientAuthenticationOptions)] = new System.Net.Security.SslClientAuthenticationOptions(),
            [typeof(Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task>)] = (Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task>)(_ => Task.CompletedTask),
            [typeof(System.Buffers.IBufferWriter<byte>)] = new System.Buffers.ArrayBufferWriter<byte>(),
        };
        var properties = typeof(HttpRequest).GetProperties().Where(p => p.CanWrite && p.Name is not ("Url" or "Method" or "Body" or "Headers")).ToList();
        foreach (System.Reflection.PropertyInfo property in properties)
        {
            Assert.That(values.ContainsKey(property.PropertyType), $"no test value for {property.Name} ({property.PropertyType})");
            property.SetValue(request, values[property.PropertyType]);
        }

        var effective = new HttpRequest(string.Empty);
        request.CopyWithDefaults(effective, new HttpFetchOptions());
        foreach (System.Reflection.PropertyInfo property in properties)
        {
            Assert.That(property.GetValue(effective), Is.EqualTo(property.GetValue(request)), property.Name);
        }

        Assert.That(effective.Body, Is.SameAs(request.Body));
        Assert.That(effective.Method, Is.EqualTo("PUT"));
    }

    [Test]
    public void Errors_SayTheCodeAndReason_AndRethrowRaisesThem()
    {
        Assert.That(new HttpClientError(403).Message, Is.EqualTo("HTTP 403: Forbidden"));
        Assert.That(new HttpTimeoutError(HttpTimeoutPhase.Queue).Message, Is.EqualTo("Timeout in request queue"));
        Assert.That(new HttpStreamClosedError().Message, Is.EqualTo("Stream closed"));
        var response = new HttpResponse(new HttpRequest("http://example.com/"), 403);
        HttpClientError error = Assert.Throws<HttpClientError>(response.Rethrow)!;
        Assert.That(error.Message, Is.EqualTo("HTTP 403: Forbidden"));
        Assert.That(error.Response, Is.SameAs(response));
        Assert.DoesNotThrow(new HttpResponse(new HttpRequest("http://example.com/"), 200).Rethrow);
    }

    [Test]
    public void Create_IsOnePerLoopUnlessForced_AndCloseForgetsIt()
    {
        using var loop = new IOLoop();
        using var other = new IOLoop();
        AsyncHttpClient first = AsyncHttpClient.Create(loop);
        Assert.That(AsyncHttpClient.Create(loop), Is.SameAs(first));
        Assert.That(AsyncHttpClient.Create(other), Is.Not.SameAs(first));
        AsyncHttpClient forced = AsyncHttpClient.Create(loop, forceInstance: true);
        Assert.That(forced, Is.Not.SameAs(first));
        Assert.That(first, Is.TypeOf<SimpleAsyncHttpClient>());
        first.Close();
        AsyncHttpClient again = AsyncHttpClient.Create(loop);
        Assert.That(again, Is.Not.SameAs(first));
        foreach (AsyncHttpClient client in new[] { forced, again, AsyncHttpClient.Create(other) })
        {
            client.Close();
        }
    }

    [Test]
    public void MaxClients_DefaultIsTen_ConfigureSetsIt_CreateSettingsWin()
    {
        using var loop = new IOLoop();
        var made = new List<AsyncHttpClient>();
        try
        {
            made.Add(AsyncHttpClient.Create(loop, forceInstance: true));
            Assert.That(made[^1].MaxClients, Is.EqualTo(10));
            made.Add(AsyncHttpClient.Create(loop, forceInstance: true, new AsyncHttpClientSettings { MaxClients = 11 }));
            Assert.That(made[^1].MaxClients, Is.EqualTo(11));
            AsyncHttpClient.Configure<SimpleAsyncHttpClient>(new AsyncHttpClientSettings { MaxClients = 12 });
            made.Add(AsyncHttpClient.Create(loop, forceInstance: true));
            Assert.That(made[^1].MaxClients, Is.EqualTo(12));
            made.Add(AsyncHttpClient.Create(loop, forceInstance: true, new AsyncHttpClientSettings { MaxClients = 13 }));
            Assert.That(made[^1].MaxClients, Is.EqualTo(13));
            Assert.Throws<ArgumentException>(() => AsyncHttpClient.Configure("No.Such.Type, Nowhere"));
        }
        finally
        {
            AsyncHttpClient.Configure((Type?)null);
            made.ForEach(client => client.Close());
        }
    }

    [Test]
    public void BlockingClient_FetchesFromAThreadWithoutALoop_AndRaisesForA404()
    {
        using var client = new BlockingHttpClient();
        HttpResponse response = client.Fetch(Server.Url("/hello"));
        Assert.That(Encoding.UTF8.GetString(response.Body), Is.EqualTo("Hello world!"));
        HttpClientError error = Assert.Throws<HttpClientError>(() => client.Fetch(Server.Url("/notfound")))!;
        Assert.That(error.Code, Is.EqualTo(404));
        Assert.That(client.Fetch(Server.Url("/notfound"), raiseError: false).Code, Is.EqualTo(404));
        client.Close();
        Assert.Throws<ObjectDisposedException>(() => client.Fetch(Server.Url("/hello")));
    }

    [Test]
    public void BlockingClient_OnARunningLoopsThread_IsRefused()
    {
        using var loop = new IOLoop(new IOLoopOptions { MakeCurrent = true });
        using var client = new BlockingHttpClient();
        try
        {
            loop.RunSync(() =>
            {
                Assert.Throws<InvalidOperationException>(() => client.Fetch(Server.Url("/hello")));
                return Task.CompletedTask;
            }, TimeSpan.FromSeconds(20));
        }
        finally
        {
            IOLoop.ClearCurrent();
        }
    }
}
