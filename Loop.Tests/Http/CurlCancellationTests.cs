using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// Cancellation and closing in the curl client: an abort names the transfer it was meant for,
/// never whatever transfer has since taken its easy handle, and no fetch outlives the client.
/// </summary>
public sealed class CurlCancellationTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    [Test]
    public void LateCancellation_FromTheStreamingCallback_DoesNotAbortTheNextRequestOnTheSameHandle() => Run(async () =>
    {
        // A cancels its token while curl delivers its body, so the abort is posted to the loop;
        // A completes first, and B (queued behind it) starts on A's recycled easy handle before
        // that abort runs. The abort must find nothing to do.
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        using var cancel = new CancellationTokenSource();
        var a = new HttpRequest(Server.Url("/hello")) { StreamingCallback = _ => cancel.Cancel() };
        Task<HttpResponse> first = client.FetchAsync(a, cancellationToken: cancel.Token);
        Task<HttpResponse> second = client.FetchAsync(new HttpRequest(Server.Url("/hello?name=B")) { RequestTimeout = TimeSpan.FromSeconds(3) });

        HttpResponse b = await second;
        Assert.That(b.Code, Is.EqualTo(200));
        Assert.That(Text(b), Is.EqualTo("Hello B!"));
        Assert.That(first.IsCompleted, Is.True);
        Assert.That(first.IsCompletedSuccessfully || first.IsCanceled || first.Exception?.InnerException is OperationCanceledException, Is.True, $"A ended {first.Status}");
        Assert.That(client.ActiveCount, Is.Zero);
        Assert.That(client.TransferCount, Is.Zero);
    });

    [Test]
    public void CancellationStorm_AtRandomPoints_EveryFetchEnds_AndEverySlotComesBack() => Run(async () =>
    {
        // 2,000 fetches in waves of 50 through 10 slots (so that the queue is never empty and
        // cancellations land in every phase: queued, connecting, reading, just completed); a
        // quarter cancel themselves from curl's write callback, the rest at 0-20 ms.
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 10 });
        var random = new Random(12);
        int succeeded = 0;
        int cancelled = 0;
        for (int wave = 0; wave < 40; wave++)
        {
            var sources = new List<CancellationTokenSource>();
            var fetches = new List<Task<HttpResponse>>();
            for (int i = 0; i < 50; i++)
            {
                var cancel = new CancellationTokenSource();
                sources.Add(cancel);
                string path = (i % 4) switch
                {
                    0 => "/hello",
                    1 => "/large?size=200000",
                    2 => "/chunk",
                    _ => "/hello?name=streamed",
                };
                var request = new HttpRequest(Server.Url(path)) { RequestTimeout = TimeSpan.FromSeconds(15) };
                if (i % 4 == 3)
                {
                    // Cancelled from inside curl's write callback, as its transfer completes.
                    request = request with { StreamingCallback = _ => cancel.Cancel() };
                }
                else
                {
                    cancel.CancelAfter(random.Next(0, 21));
                }

                fetches.Add(client.FetchAsync(request, cancellationToken: cancel.Token));
            }

            foreach (Task<HttpResponse> fetch in fetches)
            {
                try
                {
                    HttpResponse response = await fetch;
                    Assert.That(response.Code, Is.EqualTo(200));
                    succeeded++;
                }
                catch (OperationCanceledException)
                {
                    cancelled++;
                }
            }

            foreach (CancellationTokenSource source in sources)
            {
                source.Dispose();
            }

            Assert.That(client.ActiveCount, Is.Zero, $"slots held after every fetch of wave {wave} ended");
        }

        Assert.That(succeeded + cancelled, Is.EqualTo(2000));
        Assert.That(cancelled, Is.GreaterThan(0));
        Assert.That(succeeded, Is.GreaterThan(0));
        Assert.That(client.ActiveCount, Is.Zero, "slots held after every fetch ended");
        Assert.That(client.QueuedCount, Is.Zero);
        Assert.That(client.TransferCount, Is.Zero);
        Assert.That(client.IdleHandleCount, Is.LessThanOrEqualTo(10));
        Assert.That(Text(await client.FetchAsync(Server.Url("/hello?name=after"))), Is.EqualTo("Hello after!"));
    });

    [Test]
    public void Close_FromInsideAStreamingCallback_EndsEveryFetch_AndLeavesNothingBehind() => Run(async () =>
    {
        // Close runs inside libcurl's write callback: it must not clean up the multi handle
        // there, and the running and queued fetches must still end.
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        var closing = new HttpRequest(Server.Url("/large?size=200000")) { StreamingCallback = _ => client.Close() };
        Task<HttpResponse>[] fetches =
        [
            client.FetchAsync(closing),
            client.FetchAsync(Server.Url("/hang")),
            client.FetchAsync(Server.Url("/hello")),
        ];
        foreach (Task<HttpResponse> fetch in fetches)
        {
            Exception? error = null;
            try
            {
                await fetch;
            }
            catch (Exception e)
            {
                error = e;
            }

            // A running fetch fails with a 599 around it, a queued one with it alone.
            Assert.That(error?.GetBaseException(), Is.InstanceOf<ObjectDisposedException>());
        }

        Assert.That(client.ActiveCount, Is.Zero);
        Assert.That(client.QueuedCount, Is.Zero);
        Assert.That(client.TransferCount, Is.Zero);
    });
}
