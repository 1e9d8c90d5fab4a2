using System.Net;
using System.Net.Sockets;
using Loop.Http;
using Loop.Http.Internal;
using Loop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Loop.Tests.Handler;

/// <summary>
/// Who owns the loop: a handler's own loop (stopped by its Dispose, leaving no thread or
/// descriptor), a caller's client (left running), the container's shared transports (not stopped
/// by a recycled handler); the IHttpClientFactory registration; the error classification.
/// </summary>
[CancelAfter(30_000)]
public sealed class LoopHttpLifetimeTests
{
    private static HandlerTestServer Server => HandlerTestServer.Shared;

    [Test]
    public async Task Dispose_OwnLoop_ThreadEnds_PollerAndSocketsClosed()
    {
        var handler = new LoopHttpMessageHandler();
        Thread thread = handler.OwnedTransport!.Thread;
        int poller = handler.Client.Loop.BackendFileDescriptor;
        string? pollerTarget = Fds.Target(poller);
        using (var client = new HttpClient(handler, disposeHandler: false))
        {
            Assert.That(await client.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
        }

        Assert.That(thread.Name, Is.EqualTo("Loop.Http"));
        Assert.That(thread.IsBackground, Is.True);
        Assert.That(Fds.ClientSocketsTo(Server.Port), Is.Not.Empty, "the keep-alive connection is pooled");

        handler.Dispose();

        Assert.That(thread.IsAlive, Is.False);
        Assert.That(handler.Client.Loop.IsClosed, Is.True);
        Assert.That(Fds.Target(poller), Is.Not.EqualTo(pollerTarget), "the poller's descriptor is closed");
        Assert.That(Fds.ClientSocketsTo(Server.Port), Is.Empty, "no connection is left open");
        Assert.ThrowsAsync<ObjectDisposedException>(() => new HttpClient(handler, disposeHandler: false).GetAsync(Server.Url("/hello")));
    }

    [Test]
    public async Task DisposeAsync_Transport_ThreadEndsAndLoopCloses()
    {
        var transport = new LoopHttpTransport();
        using (var client = new HttpClient(new LoopHttpMessageHandler(transport), disposeHandler: true))
        {
            Assert.That(await client.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
        }

        Assert.That(transport.IsDisposed, Is.False, "the handler leaves a transport it was given");
        await transport.DisposeAsync().AsTask().Within();
        Assert.That(transport.Thread.IsAlive, Is.False);
        Assert.That(transport.Loop.IsClosed, Is.True);
        Assert.That(Fds.ClientSocketsTo(Server.Port), Is.Empty, "no connection is left open");
    }

    [Test]
    public async Task CallersClient_OnALoopTheCallerRuns_Works_AndDisposeLeavesTheClientOpen()
    {
        using var loop = new IOLoop();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            loop.AddCallback(() => started.SetResult());
            loop.Start();
        })
        { IsBackground = true, Name = "caller's loop" };
        thread.Start();
        await started.Task.Within();
        var fetcher = new SimpleAsyncHttpClient(loop, new AsyncHttpClientSettings());
        try
        {
            using (var handler = new LoopHttpMessageHandler(fetcher))
            using (var client = new HttpClient(handler))
            {
                Assert.That(await client.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
            }

            Assert.That(fetcher.IsClosed, Is.False, "the caller's client outlives the handler");
        }
        finally
        {
            fetcher.Close();
            loop.AddCallback(loop.Stop);
            await Task.Run(thread.Join).Within();
        }
    }

    [Test]
    public async Task SharedTransport_OneHandlerDisposed_TheOthersGoOn_DisposingTheSetStopsIt()
    {
        var transports = new LoopHttpTransports();
        LoopHttpTransport transport = transports.Get();
        var recycled = new LoopHttpMessageHandler(transport);
        using (var client = new HttpClient(recycled))
        {
            Assert.That(await client.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
        }

        // As IHttpClientFactory does when a handler's lifetime ends.
        recycled.Dispose();

        Assert.That(transport.Thread.IsAlive, Is.True);
        using (var other = new HttpClient(new LoopHttpMessageHandler(transport)))
        {
            Assert.That(await other.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
        }

        Assert.That(transports.Get(), Is.SameAs(transport));
        transports.Dispose();
        Assert.That(transport.Thread.IsAlive, Is.False);
        Assert.That(transport.Client.IsClosed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => transports.Get());
    }

    [Test]
    public async Task AddHttpClient_UseLoop_NamedAndTypedClientsRunOnTheSharedLoop_ContainerStopsIt()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("named", client => client.BaseAddress = new Uri(Server.Url("/"))).UseLoop();
        services.AddHttpClient<HelloClient>(client => client.BaseAddress = new Uri(Server.Url("/"))).UseLoop(options => options.AllowAutoRedirect = false);
        LoopHttpTransport transport;
        using (ServiceProvider provider = services.BuildServiceProvider())
        {
            IHttpClientFactory factory = provider.GetRequiredService<IHttpClientFactory>();
            string id = Guid.NewGuid().ToString();
            Assert.That(await factory.CreateClient("named").GetStringAsync($"hello?id={id}").Within(), Is.EqualTo("Hello!"));
            Assert.That(Server.Seen(id).Headers["User-Agent"], Is.EqualTo(SimpleAsyncHttpClient.DefaultUserAgent), "sent by the Loop client");

            HelloClient typed = provider.GetRequiredService<HelloClient>();
            Assert.That(await typed.StatusOfRedirectAsync().Within(), Is.EqualTo(HttpStatusCode.Found), "the typed client's own options");

            transport = provider.GetRequiredService<LoopHttpTransport>();
            Assert.That(provider.GetRequiredService<LoopHttpTransports>().Get(new LoopHttpMessageHandlerOptions { AllowAutoRedirect = false }), Is.SameAs(transport), "one loop for both: request options do not make another");
            Assert.That(transport.Thread.IsAlive, Is.True);
        }

        Assert.That(transport.Thread.IsAlive, Is.False, "the container stopped the loop");
        Assert.That(transport.Client.IsClosed, Is.True);
    }

    [Test]
    public async Task AddLoop_WithCurl_UseLoopClientsRunOnCurl()
    {
        var services = new ServiceCollection();
        services.AddLoop(options =>
        {
            options.Client = LoopClientKind.Curl;
            options.MaxClients = 4;
        });
        services.AddHttpClient("curl").UseLoop();
        using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("curl");

        Assert.That(await client.GetStringAsync(Server.Url("/hello")).Within(), Is.EqualTo("Hello!"));
        LoopHttpTransport transport = provider.GetRequiredService<LoopHttpTransport>();
        Assert.That(transport.Kind, Is.EqualTo(LoopClientKind.Curl));
        Assert.That(transport.Client, Is.InstanceOf<Loop.Curl.CurlAsyncHttpClient>());
        Assert.That(transport.Client.MaxClients, Is.EqualTo(4));
    }

    [Test]
    public async Task Get_NameThatDoesNotResolve_NameResolutionError()
    {
        using var handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { ClientSettings = new AsyncHttpClientSettings { Resolver = new NoSuchHostResolver() } });
        using var client = new HttpClient(handler);

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => client.GetAsync("http://nowhere.test/"));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.NameResolutionError));
        Assert.That(error.InnerException, Is.InstanceOf<HttpConnectError>());
    }

    [Test]
    public async Task Send_Http2Required_OnTheSimpleClient_VersionNegotiationError_OrLowerIsSentAs11()
    {
        using var client = new HttpClient(new LoopHttpMessageHandler());
        var request = new HttpRequestMessage(HttpMethod.Get, Server.Url("/hello")) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

        HttpRequestException error = await HandlerAssert.CatchAsync<HttpRequestException>(() => client.SendAsync(request));

        Assert.That(error.HttpRequestError, Is.EqualTo(HttpRequestError.VersionNegotiationError));
        using HttpResponseMessage lower = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, Server.Url("/hello")) { Version = HttpVersion.Version20 }).Within();
        Assert.That(lower.Version, Is.EqualTo(HttpVersion.Version11), "RequestVersionOrLower falls back to 1.1");
    }

    [Test]
    public void Classify_EachKindOfClientError_GivesItsHttpRequestError()
    {
        Assert.That(ErrorMapping.Classify(new HttpConnectError("h", 80, "refused", new SocketException((int)SocketError.ConnectionRefused))), Is.EqualTo(HttpRequestError.ConnectionError));
        Assert.That(ErrorMapping.Classify(new HttpConnectError("h", 80, "no such host", new SocketException((int)SocketError.HostNotFound))), Is.EqualTo(HttpRequestError.NameResolutionError));
        Assert.That(ErrorMapping.Classify(new HttpConnectError("h", 80, "curl", null) { CurlCode = 6 }), Is.EqualTo(HttpRequestError.NameResolutionError));
        Assert.That(ErrorMapping.Classify(new HttpTlsError(TlsFailureReason.UntrustedRoot, "untrusted")), Is.EqualTo(HttpRequestError.SecureConnectionError));
        Assert.That(ErrorMapping.Classify(new HttpProtocolError("Malformed HTTP response start line")), Is.EqualTo(HttpRequestError.InvalidResponse));
        Assert.That(ErrorMapping.Classify(new HttpProtocolError("Response headers are larger than MaxHeaderSize (65536 bytes)")), Is.EqualTo(HttpRequestError.ConfigurationLimitExceeded));
        Assert.That(ErrorMapping.Classify(new HttpContentDecodingError("gzip", "corrupt")), Is.EqualTo(HttpRequestError.InvalidResponse));
        Assert.That(ErrorMapping.Classify(new HttpStreamClosedError("closed")), Is.EqualTo(HttpRequestError.ResponseEnded));
        Assert.That(ErrorMapping.Classify(new HttpBodyTooLargeError(10)), Is.EqualTo(HttpRequestError.ConfigurationLimitExceeded));
        Assert.That(ErrorMapping.Classify(new HttpClientError(599, "callback failed", innerException: new InvalidOperationException())), Is.EqualTo(HttpRequestError.Unknown));
    }

    [Test]
    public void Map_HandlerTimeout_IsTaskCanceledWithTimeoutAndTheClientErrorInside()
    {
        var timeout = new HttpTimeoutError(HttpTimeoutPhase.Connect);

        Exception mapped = ErrorMapping.Map(timeout, CancellationToken.None, afterHead: false);

        Assert.That(mapped, Is.InstanceOf<TaskCanceledException>());
        Assert.That(mapped.InnerException, Is.InstanceOf<TimeoutException>());
        Assert.That(mapped.InnerException!.InnerException, Is.SameAs(timeout));
    }

    [Test]
    public async Task ConnectTimeoutOption_ElapsesWhileQueued_TaskCanceledWithTimeoutInside()
    {
        // One slot, held by a request the server never answers: the next one waits in the queue
        // and its ConnectTimeout (which covers the queue, as in Tornado) runs out there.
        string id = Guid.NewGuid().ToString();
        using var handler = new LoopHttpMessageHandler(new LoopHttpMessageHandlerOptions { MaxClients = 1, ConnectTimeout = TimeSpan.FromMilliseconds(200) });
        using var client = new HttpClient(handler);
        using var cancel = new CancellationTokenSource();
        Task<HttpResponseMessage> holder = client.GetAsync(Server.Url($"/hold?id={id}"), cancel.Token);
        await HandlerAssert.UntilAsync(() => Server.Seen(id).Method is not null, "the first request holds the slot");

        TaskCanceledException error = await HandlerAssert.CatchAsync<TaskCanceledException>(() => client.GetAsync(Server.Url("/hello")));

        Assert.That(error.InnerException, Is.InstanceOf<TimeoutException>());
        Assert.That(error.InnerException!.InnerException, Is.InstanceOf<HttpTimeoutError>());
        cancel.Cancel();
        await HandlerAssert.CatchAsync<TaskCanceledException>(() => holder);
    }

    /// <summary>A typed client, as services.AddHttpClient&lt;T&gt;() makes it.</summary>
    public sealed class HelloClient(HttpClient client)
    {
        public async Task<HttpStatusCode> StatusOfRedirectAsync()
        {
            using HttpResponseMessage response = await client.GetAsync("redirect?id=typed");
            return response.StatusCode;
        }
    }

    private sealed class NoSuchHostResolver : IResolver
    {
        public ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<IPEndPoint[]>(new ResolveException(host, "no such host (test resolver)"));
    }
}
