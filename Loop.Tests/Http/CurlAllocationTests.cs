using Microsoft.Extensions.Logging;
using System.Text;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loop.Tests.Http;

/// <summary>What a keep-alive request costs the curl client in allocations once it is warm, and how its transfer objects are reused (counts, not timings).</summary>
public sealed class CurlAllocationTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    // Unobserved: no Debug logger (and no meter or activity listener), as in production.
    protected override LogLevel MinimumLogLevel => LogLevel.Information;

    // The tests run a Debug build, where every async method's state machine is an object of its
    // own even when it completes at once: about 1,150 B here (about 930 B in Release), nearly
    // all of it the shared types (the request, the response, its headers and times, the body,
    // the caller's Task). A transfer object made per request (about 330 B) would show above this
    // bound, as would a TaskCompletionSource and its Task (about 100 B) with some of the rest.
    private const int MaxBytesPerRequest = 1400;

    [Test]
    public void KeepAliveRequest_Buffered_AllocatesLittleBeyondTheResponse() => RunQuiet(async client =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        string url = raw.Url();
        double perRequest = await AllocationProbe.BytesPerRequestAsync(() => client.FetchAsync(url));
        TestContext.Out.WriteLine($"{perRequest:F0} B per buffered keep-alive request");
        Assert.That(perRequest, Is.LessThan(MaxBytesPerRequest));
        Assert.That(client.IdleTransferCount, Is.EqualTo(1), "one transfer object, reused for every request");
    });

    [Test]
    public void KeepAliveRequest_FetchValueAsync_AllocatesNoTaskAndNoContinuation() => RunQuiet(async client =>
    {
        // The same request, awaited as a Task and as a value task under the loop's context: the
        // value task saves the Task (72 B) and the continuation an await of a Task allocates
        // under a context (SynchronizationContextAwaitTaskContinuation, 40 B).
        using var raw = AllocationProbe.Answering("Hello, world!");
        var request = new HttpRequest(raw.Url());
        double asTask = await AllocationProbe.BytesPerRequestAsync(() => client.FetchAsync(request));
        double asValue = await AllocationProbe.BytesPerValueRequestAsync(() => client.FetchValueAsync(request));
        TestContext.Out.WriteLine($"{asTask:F0} B per request with FetchAsync, {asValue:F0} B with FetchValueAsync (the request reused)");
        Assert.That(asValue, Is.LessThanOrEqualTo(asTask - 100));
    });

    [Test]
    public void KeepAliveRequest_Streamed_AllocatesLittle() => RunQuiet(async client =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        double perRequest = await AllocationProbe.StreamedBytesPerRequestAsync(client, raw.Url());
        Assert.That(perRequest, Is.LessThan(MaxBytesPerRequest));
    });

    [Test]
    public void RequestWithCancellationToken_Completed_TransferReusedAndNotCancelledLater() => Run(async () =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        using var first = new CancellationTokenSource();
        HttpResponse response = await client.FetchAsync(new HttpRequest(raw.Url()), cancellationToken: first.Token);
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(client.IdleTransferCount, Is.EqualTo(1), "its callback was unregistered: the object is reused");

        // Cancelling the first request's token now must not reach the next request on the same object.
        Task<HttpResponse> second = client.FetchAsync(new HttpRequest(raw.Url()));
        await first.CancelAsync();
        Assert.That((await second).Body, Is.EqualTo("Hello, world!"u8.ToArray()));
    });

    [Test]
    public void RequestCancelled_TransferNotReused() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Never answers: the request is cancelled while curl waits.
            while (await connection.ReadRequestAsync() is not null)
            {
            }
        });
        var client = (CurlAsyncHttpClient)CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        using var cancel = new CancellationTokenSource();
        Task<HttpResponse> pending = client.FetchAsync(new HttpRequest(raw.Url()), cancellationToken: cancel.Token);
        await cancel.CancelAsync();
        Assert.That(async () => await pending, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(client.IdleTransferCount, Is.Zero, "a transfer whose cancellation callback ran is not reused");
    });

    /// <summary>
    /// Runs <paramref name="body"/> with a client on a loop of its own whose logging is off, as
    /// a user's usually is at Debug level (the fixture's log takes every level, and curl's debug
    /// log makes a string per header line); closes both.
    /// </summary>
    private static void RunQuiet(Func<CurlAsyncHttpClient, Task> body)
    {
        var loop = new IOLoop(new IOLoopOptions { LoggerFactory = NullLoggerFactory.Instance });
        var client = new CurlAsyncHttpClient(loop, new AsyncHttpClientSettings { MaxClients = 1 });
        try
        {
            loop.RunSync(() => body(client), TestTimeout);
        }
        finally
        {
            client.Close();
            for (int i = 0; i < 10 && loop.PendingCallbackCount > 0; i++)
            {
                loop.RunOnce(TimeSpan.Zero);
            }

            Assert.That(loop.HandlerCount, Is.Zero, "the client left no descriptor watched");
            loop.Dispose();
        }
    }
}
