using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// The curl client runs at most <c>MultiCapacity</c> transfers on one libcurl multi handle and
/// makes another for more (libcurl 7.88 scans a handle's whole connection cache per transfer):
/// every multi handle's transfers finish, keep their connections for the next ones, time out on
/// that handle's timer, and close with the client.
/// </summary>
public sealed class CurlMultiHandleTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    private static RawHttpServer KeepAlive() => RawHttpServer.Start(async connection =>
    {
        while (await connection.ReadRequestAsync() is not null)
        {
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });

    private CurlAsyncHttpClient CreateCurlClient(int maxClients, int multiCapacity)
    {
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = maxClients });
        client.MultiCapacity = multiCapacity;
        return client;
    }

    [Test]
    public void UpToTheCapacity_OneMultiHandleRunsEveryTransfer() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive();
        CurlAsyncHttpClient client = CreateCurlClient(maxClients: 8, multiCapacity: 8);
        HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.FetchAsync(server.Url())));
        Assert.That(responses.Select(Text), Is.All.EqualTo("ok"));
        Assert.That(client.MultiCount, Is.EqualTo(1));
    });

    [Test]
    public void BeyondTheCapacity_MoreMultiHandles_EachKeepingItsConnectionsForTheNextRound() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive();
        CurlAsyncHttpClient client = CreateCurlClient(maxClients: 12, multiCapacity: 4);
        for (int round = 0; round < 3; round++)
        {
            HttpResponse[] responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.FetchAsync(server.Url())));
            Assert.That(responses.Select(Text), Is.All.EqualTo("ok"), $"round {round}");
            Assert.That(client.MultiCount, Is.EqualTo(3), $"round {round}");
        }

        // Each round puts four transfers on each handle, which finds the four connections the
        // last round left in its cache.
        Assert.That(server.ConnectionCount, Is.EqualTo(12));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(12));
        Assert.That(client.RegisteredSocketCount, Is.EqualTo(12), "every kept connection parked, whichever handle has it");
    });

    [Test]
    public void EveryMultiHandlesTimer_EndsItsTransfers_RequestTimeout() => Run(async () =>
    {
        CurlAsyncHttpClient client = CreateCurlClient(maxClients: 3, multiCapacity: 1);
        Task<HttpResponse>[] fetches = [.. Enumerable.Range(0, 3).Select(_ => client.FetchAsync(new HttpRequest(Server.Url("/hang")) { RequestTimeout = TimeSpan.FromMilliseconds(300) }))];
        Assert.That(client.MultiCount, Is.EqualTo(3));
        Assert.That(client.PendingMultiTimers, Is.EqualTo(3), "each handle asked for its own wake-up");
        foreach (Task<HttpResponse> fetch in fetches)
        {
            HttpTimeoutError error = await AsyncAssert.ThrowsAsync<HttpTimeoutError>(async () => await fetch);
            Assert.That(error.Phase, Is.EqualTo(HttpTimeoutPhase.Request));
        }

        Assert.That(client.TransferCount, Is.Zero);
    });

    [Test]
    public void BeyondTheFirstMultiHandle_WhileResponsesAreSmall_ATransferReadsInOneKiB_AndALargerResponseEndsThat() => Run(async () =>
    {
        byte[] big = [.. Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i % 251))];
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is { } head)
            {
                if (head.StartsWith("GET /big", StringComparison.Ordinal))
                {
                    await connection.WriteAsync([.. "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n"u8, .. big]);
                }
                else
                {
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            }
        });
        CurlAsyncHttpClient client = CreateCurlClient(maxClients: 2, multiCapacity: 1);

        // Two at once: the first on the first handle (libcurl's default buffer), the second on
        // another, before any response said how large they are.
        async Task<int> LargestChunk()
        {
            int largest = 0;
            var body = new List<byte>();
            await client.FetchAsync(new HttpRequest(server.Url("/big"))
            {
                StreamingCallback = chunk =>
                {
                    largest = Math.Max(largest, chunk.Length);
                    body.AddRange(chunk.Span);
                },
            });
            Assert.That(body, Is.EqualTo(big), "the whole body, in order, whatever the buffer");
            return largest;
        }

        Assert.That(client.SmallResponses, Is.True);
        int[] first = await Task.WhenAll(LargestChunk(), LargestChunk());
        Assert.That(client.MultiCount, Is.EqualTo(2));
        Assert.That(first[1], Is.LessThanOrEqualTo(CurlAsyncHttpClient.SmallReceiveBuffer), "read in 1 KiB on the second handle");
        Assert.That(first[0], Is.GreaterThan(CurlAsyncHttpClient.SmallReceiveBuffer), "libcurl's default on the first");

        // Those were large: the next transfers on the second handle read with the default.
        Assert.That(client.SmallResponses, Is.False);
        int[] second = await Task.WhenAll(LargestChunk(), LargestChunk());
        Assert.That(second[1], Is.GreaterThan(CurlAsyncHttpClient.SmallReceiveBuffer));

        // A run of small responses brings it back.
        for (int i = 0; i < CurlAsyncHttpClient.SmallRunToTrust; i++)
        {
            Assert.That(Text(await client.FetchAsync(server.Url("/small"))), Is.EqualTo("ok"));
        }

        Assert.That(client.SmallResponses, Is.True);
    });

    [Test]
    public void AMultiHandleIdleForTheIdleConnectionTimeout_IsRetired_AndItsConnectionsClosed() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive();
        int handlers = Loop.HandlerCount;
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 6, IdleConnectionTimeout = TimeSpan.FromSeconds(1) });
        client.MultiCapacity = 2;
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.FetchAsync(server.Url())));
        Assert.That(client.MultiCount, Is.EqualTo(3));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(6));

        // One request at a time keeps the first handle busy now and then; the other two run
        // nothing, and go once their connections are too old to be reused.
        while (client.MultiCount > 1)
        {
            Assert.That(Text(await client.FetchAsync(server.Url())), Is.EqualTo("ok"));
        }

        Assert.That(client.TrackedSocketCount, Is.EqualTo(2), "the retired handles' four connections are closed");
        Assert.That(client.RegisteredSocketCount, Is.EqualTo(2));
        Assert.That(Loop.HandlerCount, Is.EqualTo(handlers + 2));
        HttpResponse[] again = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.FetchAsync(server.Url())));
        Assert.That(again.Select(Text), Is.All.EqualTo("ok"));
        Assert.That(client.MultiCount, Is.EqualTo(3), "a new burst makes new handles");
    });

    [Test]
    public void Close_WithSeveralMultiHandles_ClosesTheirConnections_AndLeavesNoHandlerOrTimer() => Run(async () =>
    {
        using RawHttpServer server = KeepAlive();
        int handlers = Loop.HandlerCount;
        int timers = Loop.PendingTimeoutCount;
        CurlAsyncHttpClient client = CreateCurlClient(maxClients: 6, multiCapacity: 2);
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.FetchAsync(server.Url())));
        Assert.That(client.MultiCount, Is.EqualTo(3));
        Assert.That(client.TrackedSocketCount, Is.EqualTo(6));

        // Closed with transfers running on every handle, too.
        Task<HttpResponse>[] running = [.. Enumerable.Range(0, 6).Select(_ => client.FetchAsync(new HttpRequest(Server.Url("/hang"))))];
        client.Close();
        foreach (Task<HttpResponse> fetch in running)
        {
            HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await fetch);
            Assert.That(error.InnerException, Is.InstanceOf<ObjectDisposedException>());
        }

        Assert.That(client.TrackedSocketCount, Is.Zero);
        Assert.That(client.RegisteredSocketCount, Is.Zero);
        Assert.That(client.OpenHandleCount, Is.Zero);
        Assert.That(Loop.HandlerCount, Is.EqualTo(handlers));
        Assert.That(Loop.PendingTimeoutCount, Is.EqualTo(timers));
    });
}
