using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// The curl client opens and closes curl's connection sockets itself, keeps a kept-alive
/// connection registered with the loop between requests, and finds it by its ports without
/// syscalls: what a server can do to such a connection between requests, redirects on it, and
/// what is left when the client closes.
/// </summary>
public sealed class CurlSocketTrackingTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    private static RawHttpServer KeepAlive(Func<int, string> response) => RawHttpServer.Start(async connection =>
    {
        int served = 0;
        while (await connection.ReadRequestAsync() is not null)
        {
            await connection.WriteAsync(response(++served));
        }
    });

    /// <summary>Runs loop iterations until <paramref name="done"/> (the fixture's timeout bounds it).</summary>
    private static async Task UntilAsync(Func<bool> done)
    {
        while (!done())
        {
            await Task.Yield();
        }
    }

    [Test]
    public void KeepAliveRequests_OnOneConnection_StayRegisteredBetweenRequests() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive(n => $"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{n % 10}");
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("1"));
        int handlers = Loop.HandlerCount;
        for (int i = 2; i <= 6; i++)
        {
            Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo((i % 10).ToString()));
            Assert.That(client.TrackedSocketCount, Is.EqualTo(1));
            Assert.That(client.RegisteredSocketCount, Is.EqualTo(1), "parked between requests, not removed");
            Assert.That(Loop.HandlerCount, Is.EqualTo(handlers));
        }

        Assert.That(server.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void ServerClosesTheIdleConnection_TheParkedSocketIsUnregistered_AndTheNextRequestGetsANewConnection() => Run(async () =>
    {
        using RawHttpServer server = AnswerOnceThenClose(out TaskCompletionSource closed);
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));
        await closed.Task.WaitAsync(TestTimeout);

        // The server's FIN wakes the parked socket, which only unregisters it.
        await UntilAsync(() => client.RegisteredSocketCount == 0);
        Assert.That(client.TrackedSocketCount, Is.EqualTo(1), "curl has not closed it yet: it finds out when it next takes the connection");

        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));
        Assert.That(server.ConnectionCount, Is.EqualTo(2));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(1), "the dead connection's socket is forgotten when curl closes it");
    });

    [Test]
    public void ServerClosesTheIdleConnection_RightBeforeTheNextRequest_ItIsMadeOnANewConnection() => Run(async () =>
    {
        using RawHttpServer server = AnswerOnceThenClose(out TaskCompletionSource closed);
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));

        // Not waited for on the loop: the close may still be unseen when the request starts.
        closed.Task.Wait(TestTimeout);
        Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));
        Assert.That(server.ConnectionCount, Is.EqualTo(2));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(1));
    });

    [Test]
    public void RedirectOnTheSameConnection_ReusesItsSocket_AndTheNextRequestToo() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive(n => n % 2 == 1
            ? "HTTP/1.1 302 Found\r\nLocation: /there\r\nContent-Length: 0\r\n\r\n"
            : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthere");
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        for (int i = 0; i < 3; i++)
        {
            HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/here")) { FollowRedirects = true });
            Assert.That(Text(response), Is.EqualTo("there"));
            Assert.That(response.EffectiveUrl, Does.EndWith("/there"));
        }

        Assert.That(server.ConnectionCount, Is.EqualTo(1));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(1));
        Assert.That(client.RegisteredSocketCount, Is.EqualTo(1));
    });

    [Test]
    public void ConcurrentKeepAliveRequests_ParkEveryKeptConnection() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 8 });
        for (int round = 0; round < 3; round++)
        {
            HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.FetchAsync(server.Url())));
            Assert.That(responses.Select(Text), Is.All.EqualTo("ok"));
        }

        // curl may have closed some (its cache is bounded): those are forgotten, the rest parked.
        Assert.That(client.TrackedSocketCount, Is.InRange(1, server.ConnectionCount));
        Assert.That(client.RegisteredSocketCount, Is.EqualTo(client.TrackedSocketCount));
    });

    [Test]
    public void Close_ClosesAndUnregistersTheTrackedSockets() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        int handlers = Loop.HandlerCount;
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 4 });
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.FetchAsync(server.Url())));
        Assert.That(client.TrackedSocketCount, Is.GreaterThan(0));
        client.Close();
        Assert.That(client.TrackedSocketCount, Is.Zero);
        Assert.That(client.RegisteredSocketCount, Is.Zero);
        Assert.That(Loop.HandlerCount, Is.EqualTo(handlers));
    });

    [Test]
    public void PrepareCurlCallback_LeavesTheConnectionUntracked_AndItStillWorks() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        var request = new HttpRequest(server.Url()) { PrepareCurlCallback = _ => { } };
        for (int i = 0; i < 3; i++)
        {
            Assert.That(Text(await client.FetchAsync(request)), Is.EqualTo("ok"));
            Assert.That(client.TrackedSocketCount, Is.Zero, "its callback may have set socket callbacks of its own");
        }

        Assert.That(server.ConnectionCount, Is.EqualTo(1));
    });

    /// <summary>A server that answers one request per connection, as if keeping it alive, then closes it; <paramref name="closed"/> completes when it first closes one.</summary>
    private static RawHttpServer AnswerOnceThenClose(out TaskCompletionSource closed)
    {
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        closed = closing;
        return RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            connection.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            closing.TrySetResult();
        });
    }
}
