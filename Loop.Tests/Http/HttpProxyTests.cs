using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>Requests through an HTTP proxy: absolute form for http, CONNECT tunnels for https, basic proxy credentials.</summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class HttpProxyTests(Type clientType) : HttpClientFixture(clientType)
{
    [Test]
    public void Http_ThroughAProxy_IsSentInAbsoluteForm_AndKeepsItsConnection() => Run(async () =>
    {
        using TestProxy proxy = TestProxy.Start();
        var request = new HttpRequest(Server.Url("/hello?name=proxy")) { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port };
        HttpResponse first = await Client.FetchAsync(request);
        HttpResponse second = await Client.FetchAsync(request);
        Assert.That(Text(first), Is.EqualTo("Hello proxy!"));
        Assert.That(Text(second), Is.EqualTo("Hello proxy!"));
        Assert.That(proxy.RequestLines, Is.EqualTo(new[] { $"GET {Server.Url("/hello?name=proxy")} HTTP/1.1" }));
        Assert.That(proxy.ConnectionCount, Is.EqualTo(1), "the second request reused the connection to the proxy");
    });

    [Test]
    public void Https_ThroughAProxy_TunnelsWithConnect_AndValidatesTheOrigin() => Run(async () =>
    {
        using TestProxy proxy = TestProxy.Start();
        string caFile = TestCertificates.WriteAuthorityPem();
        try
        {
            var request = new HttpRequest(Server.HttpsUrl("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port, CaCerts = caFile };
            HttpResponse response = await Client.FetchAsync(request);
            Assert.That(Text(response), Is.EqualTo("Hello world!"));
            Assert.That(proxy.RequestLines, Is.EqualTo(new[] { $"CONNECT localhost:{Server.HttpsPort} HTTP/1.1" }));

            // Without the CA the origin's certificate is refused, through the tunnel as directly.
            HttpClientError error = (HttpClientError)(await Client.FetchAsync(new HttpRequest(Server.HttpsUrl("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port }, raiseError: false)).Error!;
            Assert.That(error.Code, Is.EqualTo(599));
            Assert.That(error.InnerException, Is.InstanceOf<TlsHandshakeException>());
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [Test]
    public void ProxyCredentials_AreSentAsBasicAuth_ForHttpAndForConnect() => Run(async () =>
    {
        using TestProxy proxy = TestProxy.Start("proxy-user", "s3cret");
        string caFile = TestCertificates.WriteAuthorityPem();
        try
        {
            var plain = new HttpRequest(Server.Url("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port, ProxyUsername = "proxy-user", ProxyPassword = "s3cret" };
            Assert.That(Text(await Client.FetchAsync(plain)), Is.EqualTo("Hello world!"));
            HttpRequest tunnelled = plain with { Url = Server.HttpsUrl("/hello"), CaCerts = caFile };
            Assert.That(Text(await Client.FetchAsync(tunnelled)), Is.EqualTo("Hello world!"));
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [Test]
    public void ProxyRefusal_IsA407ForHttp_AndA599NamingItForConnect() => Run(async () =>
    {
        using TestProxy proxy = TestProxy.Start("proxy-user", "s3cret");
        var plain = new HttpRequest(Server.Url("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port, ProxyUsername = "proxy-user", ProxyPassword = "wrong" };
        HttpResponse refused = await Client.FetchAsync(plain, raiseError: false);
        Assert.That(refused.Code, Is.EqualTo(407));
        Assert.That(refused.Headers["Proxy-Authenticate"], Is.EqualTo("Basic realm=\"test\""));

        HttpResponse tunnel = await Client.FetchAsync(plain with { Url = Server.HttpsUrl("/hello") }, raiseError: false);
        Assert.That(tunnel.Code, Is.EqualTo(599));
        Assert.That(tunnel.Error!.Message, Does.Contain("407"));
    });

    [Test]
    public void ProxyNotListening_IsA599_AndLeavesNothingBehind() => Run(async () =>
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.HttpsUrl("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = port }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
    });

    [Test]
    public void ProxyThatNeverAnswersConnect_IsAConnectTimeout() => Run(async () =>
    {
        // The proxy reads the CONNECT and keeps the connection open without a word.
        using RawHttpServer silent = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync(readBody: false);
            connection.KeepOpen = true;
        });
        var request = new HttpRequest(Server.HttpsUrl("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = silent.Port, ConnectTimeout = TimeSpan.FromMilliseconds(200) };
        HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () => await Client.FetchAsync(request));
        Assert.That(error.Message, Is.EqualTo("Timeout while connecting"));
        Assert.That(silent.Requests.Single(), Does.StartWith($"CONNECT localhost:{Server.HttpsPort} HTTP/1.1"));
    });

    [Test]
    public void ProxyOptions_WithLineBreaksOrBadPorts_AreRefusedAtTheCall()
    {
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello")) { ProxyHost = "proxy\r\nX-Evil: 1", ProxyPort = 8080 }));
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(new HttpRequest(Server.Url("/hello")) { ProxyHost = "127.0.0.1", ProxyPort = 70000 }));
    }
}
