using System.Text.RegularExpressions;
using Loop.Curl;
using Loop.Curl.Native;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>Tornado's CurlHTTPClientTestCase and what is particular to the libcurl client: digest auth, PrepareCurlCallback, handle reuse, fd reuse, loading.</summary>
public sealed class CurlHttpClientTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    [Test]
    public void DigestAuth_AgainstAServerThatRequiresIt_Succeeds_AndAWrongPasswordIs401() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/digest")) { AuthUsername = "foo", AuthPassword = "bar", AuthMode = HttpAuthMode.Digest };
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
        HttpResponse denied = await Client.FetchAsync(request with { AuthPassword = "wrong" }, raiseError: false);
        Assert.That(denied.Code, Is.EqualTo(401));
    });

    [Test]
    public void DigestAuth_WithAPostBody_SendsTheBodyAgainAfterTheChallenge() => Run(async () =>
    {
        // The body goes out once unauthenticated and again with the digest: curl seeks back in it.
        var request = new HttpRequest(Server.Url("/digest"), "POST", null, "some body") { AuthUsername = "foo", AuthPassword = "bar", AuthMode = HttpAuthMode.Digest };
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("ok"));
    });

    [Test]
    public void PrepareCurlCallback_SetsAFurtherOption() => Run(async () =>
    {
        const int CurlOptUserAgent = 10018;
        var request = new HttpRequest(Server.Url("/user_agent")) { PrepareCurlCallback = handle => handle.SetOption(CurlOptUserAgent, "set-by-callback") };
        Assert.That(Text(await Client.FetchAsync(request)), Is.EqualTo("set-by-callback"));
    });

    [Test]
    public void PrepareCurlCallback_AnUnknownOption_FailsTheRequestClearly() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/hello")) { PrepareCurlCallback = handle => handle.SetOption(99999, 1) };
        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await Client.FetchAsync(request));
        Assert.That(error.Code, Is.EqualTo(599));
        Assert.That(error.InnerException, Is.InstanceOf<ArgumentException>());
        Assert.That(error.Message, Does.Contain("curl_easy_setopt(99999)"));
    });

    [Test]
    public void ReusedHandle_DoesNotCarryTheLastRequestsOptions() => Run(async () =>
    {
        // One handle for both requests: whatever the first set must be gone for the second.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        var first = new HttpRequest(Server.Url("/user_agent"), headers: new HttpHeaders { { "X-Foo", "first" } })
        {
            UserAgent = "first-agent",
            AuthUsername = "user",
            AuthPassword = "secret",
            AllowIpv6 = false,
            ValidateCert = false,
        };
        Assert.That(Text(await client.FetchAsync(first)), Is.EqualTo("first-agent"));
        Assert.That(((CurlAsyncHttpClient)client).IdleHandleCount, Is.EqualTo(1), "kept: reset where libcurl clears a handle, renewed (a fresh native handle) where it does not");

        Assert.That(Text(await client.FetchAsync(Server.Url("/user_agent"))), Is.EqualTo(SimpleAsyncHttpClient.DefaultUserAgent));
        Assert.That(Text(await client.FetchAsync(Server.Url("/auth"))), Is.Empty);
        Assert.That(Text(await client.FetchAsync(Server.Url("/echo_header?name=X-Foo"))), Is.Empty);
        Assert.That(((CurlAsyncHttpClient)client).IdleHandleCount, Is.EqualTo(1), "kept: reset where libcurl clears a handle, renewed (a fresh native handle) where it does not");
    });

    [Test]
    public void ServerClosingEveryConnection_SocketNumbersReusedUnderCurl_EveryRequestSucceeds() => Run(async () =>
    {
        // curl closes each connection and opens the next, which usually gets the same number:
        // the loop must watch the new socket, not the dead registration of the old one.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        for (int i = 0; i < 50; i++)
        {
            Assert.That(Text(await client.FetchAsync(Server.Url("/close"))), Is.EqualTo("bye"));
        }

        Assert.That(((CurlAsyncHttpClient)client).TransferCount, Is.Zero);
    });

    [Test]
    public void ThousandRequestsThroughTenHandles_LeaveNoDescriptorBehind() => Run(async () =>
    {
        HashSet<string> before = Fds.ClientSocketsTo(Server.Port);
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 10 });
        HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => client.FetchAsync(Server.Url($"/hello?name={i}"))));
        Assert.That(responses.Select(Text), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => $"Hello {i}!")));
        Assert.That(((CurlAsyncHttpClient)client).IdleHandleCount, Is.LessThanOrEqualTo(10));
        Assert.That(Fds.ClientSocketsTo(Server.Port).Except(before), Is.Not.Empty, "curl keeps its connections while the client lives");
        client.Close();

        // Closing the client closes every connection curl kept, at once.
        Assert.That(Fds.ClientSocketsTo(Server.Port).Except(before), Is.Empty);
    });

    [Test]
    public void MissingLibrary_IsAClearErrorNamingWhatWasLookedFor()
    {
        CurlUnavailableException error = Assert.Throws<CurlUnavailableException>(() => LibCurl.LoadLibrary(["/nonexistent/libcurl-missing.so.4"]))!;
        Assert.That(error.Message, Does.Contain("/nonexistent/libcurl-missing.so.4"));
        Assert.That(error.Message, Does.Contain("apt-get install libcurl4"));
    }

    [Test]
    public void CurlVersion_IsTheLoadedLibrarys()
    {
        Assert.That(CurlAsyncHttpClient.CurlVersion, Does.Match(new Regex(@"^\d+\.\d+\.\d+")));
    }

    [Test]
    public void SslOptions_AreRefusedAtTheCall()
    {
        var request = new HttpRequest(Server.HttpsUrl("/hello")) { SslOptions = new System.Net.Security.SslClientAuthenticationOptions() };
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(request));
    }

    [Test]
    public void HttpVersion_2_SpeaksHttp2OverTls_And_1_0_SpeaksHttp10() => Run(async () =>
    {
        string caFile = TestCertificates.WriteAuthorityPem();
        try
        {
            var http2 = new HttpRequest(Server.HttpsUrl("/protocol")) { CaCerts = caFile, HttpVersion = System.Net.HttpVersion.Version20 };
            Assert.That(Text(await Client.FetchAsync(http2)), Is.EqualTo("HTTP/2"));
            var http11 = http2 with { HttpVersion = System.Net.HttpVersion.Version11 };
            Assert.That(Text(await Client.FetchAsync(http11)), Is.EqualTo("HTTP/1.1"));
            var http10 = new HttpRequest(Server.Url("/protocol")) { HttpVersion = System.Net.HttpVersion.Version10 };
            Assert.That(Text(await Client.FetchAsync(http10)), Is.EqualTo("HTTP/1.0"));
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [Test]
    public void ProgressReports_OnlyForBodiesCurlMayReadPastTheWriteCallback() => Run(async () =>
    {
        // A 2xx with a length hands every byte to the write callback: curl need not report
        // progress (it would about ten times a transfer). A chunked body and a redirect's may be
        // read without it (framing, draining), so those transfers have the reports.
        var client = (CurlAsyncHttpClient)Client;
        for (int i = 0; i < 3; i++)
        {
            Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.Url("/head")))), Is.EqualTo("1234567"));
        }

        Assert.That(client.ProgressReports, Is.Zero);
        Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.Url("/chunk")))), Is.EqualTo("asdfqwer"));
        long afterChunked = client.ProgressReports;
        Assert.That(afterChunked, Is.Positive);
        Assert.That(Text(await client.FetchAsync(new HttpRequest(Server.Url("/redirect?url=/head")))), Is.EqualTo("1234567"));
        Assert.That(client.ProgressReports, Is.GreaterThan(afterChunked));
    });

    [Test]
    public void Http2RedirectWithAnEndlessBody_FailsAtMaxBodySize_NotAtTheTimeout() => Run(async () =>
    {
        // Over HTTP/2 a body has no chunked framing: curl drains a followed redirect's body by
        // its DATA frames, without the write callback, and the progress callback bounds it.
        string caFile = TestCertificates.WriteAuthorityPem();
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 256 * 1024 });
        try
        {
            var request = new HttpRequest(Server.HttpsUrl("/redirect?endless=1&url=/hello"))
            {
                CaCerts = caFile,
                HttpVersion = System.Net.HttpVersion.Version20,
                RequestTimeout = TimeSpan.FromSeconds(60),
            };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            HttpResponse response = await client.FetchAsync(request, raiseError: false);
            Assert.That(response.Error, Is.InstanceOf<HttpBodyTooLargeError>(), response.Error?.ToString());
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [Test]
    public void MaxRedirects_RunningOut_ReturnsTheLast3xx_AsTheSimpleClientDoes() => Run(async () =>
    {
        // libcurl ends with CURLE_TOO_MANY_REDIRECTS; the client answers with the 3xx it stopped at.
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.Url("/countdown/5")) { MaxRedirects = 3 }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(302));
        Assert.That(response.Request.Url, Does.EndWith("/countdown/5"));
        Assert.That(response.EffectiveUrl, Does.EndWith("/countdown/2"));
        Assert.That(response.Headers["Location"], Does.EndWith("/countdown/1"));
    });
}
