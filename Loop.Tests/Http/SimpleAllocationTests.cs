using Microsoft.Extensions.Logging;
using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>What a keep-alive request costs the simple client in allocations once it is warm (counts, not timings).</summary>
public sealed class SimpleAllocationTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    // Unobserved: no Debug logger (and no meter or activity listener), as in production.
    protected override LogLevel MinimumLogLevel => LogLevel.Information;

    // The tests run a Debug build, where every async method's state machine is an object of its
    // own even when it completes at once: 950 to 1,050 B here, about 360 B in Release (the caller's
    // request and the continuation of its await, about 110 B; the caller's Task, the response
    // with its times inline, and the body). A streamed request sets an option, which costs it
    // the options object (about 210 B more). A buffer or a timer made per request, headers
    // copied per response, or a request's options stored inline would show above these bounds.
    private const int MaxBytesPerRequest = 1250;
    private const int MaxBytesPerStreamedRequest = 1450;

    [Test]
    public void KeepAliveRequest_Buffered_AllocatesLittleBeyondTheResponse() => Run(async () =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        string url = raw.Url();
        double perRequest = await AllocationProbe.BytesPerRequestAsync(() => client.FetchAsync(url));
        TestContext.Out.WriteLine($"{perRequest:F0} B per buffered keep-alive request");
        Assert.That(perRequest, Is.LessThan(MaxBytesPerRequest));
    });

    [Test]
    public void KeepAliveRequest_FetchValueAsync_AllocatesNoTaskAndNoContinuation() => Run(async () =>
    {
        // The same request, awaited as a Task and as a value task under the loop's context: the
        // value task saves the Task (72 B) and the continuation an await of a Task allocates
        // under a context (SynchronizationContextAwaitTaskContinuation, 40 B).
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        var request = new HttpRequest(raw.Url());
        double asTask = await AllocationProbe.BytesPerRequestAsync(() => client.FetchAsync(request));
        double asValue = await AllocationProbe.BytesPerValueRequestAsync(() => client.FetchValueAsync(request));
        TestContext.Out.WriteLine($"{asTask:F0} B per request with FetchAsync, {asValue:F0} B with FetchValueAsync (the request reused)");
        Assert.That(asValue, Is.LessThanOrEqualTo(asTask - 100));
    });

    [Test]
    public void KeepAliveRequest_Streamed_AllocatesLittle() => Run(async () =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        double perRequest = await AllocationProbe.StreamedBytesPerRequestAsync(client, raw.Url());
        Assert.That(perRequest, Is.LessThan(MaxBytesPerStreamedRequest));
    });

    [Test]
    public void KeepAliveRequest_StreamedFetchResult_AllocatesNothing() => Run(async () =>
    {
        // FetchResultAsync with the request reused and the body streamed: no task, no
        // continuation, no response object (the fetch state's own is refilled), no body array,
        // and the fields shared with the last answer. Nothing is made per fetch: the smallest
        // object is 24 B, so anything made per fetch would show as at least that. The bound is
        // not exactly 0 for what is rare and not per fetch: about once in 30,000 fetches here a
        // buffer of some 8 KB comes new from the shared ArrayPool (after the pool trimmed it).
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        long received = 0;
        var request = new HttpRequest(raw.Url()) { StreamingCallback = chunk => received += chunk.Length };
        double perRequest = await AllocationProbe.BytesPerResultRequestAsync(() => client.FetchResultAsync(request), settledBytes: 0);
        TestContext.Out.WriteLine($"{perRequest:F2} B per streamed keep-alive request with FetchResultAsync");
        Assert.That(received % 13, Is.EqualTo(0));
        Assert.That(received, Is.GreaterThanOrEqualTo(13L * (AllocationProbe.Warmup + AllocationProbe.Measured)));
        Assert.That(perRequest, Is.LessThan(1));
    });

    [Test]
    public void KeepAliveRequest_BufferedFetchResult_AllocatesTheBodyOnly() => Run(async () =>
    {
        // The body's array (13 B: 40 B with its header) is all a buffered fetch of a result makes
        // (and what is rare and not per fetch: see the streamed test).
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        var request = new HttpRequest(raw.Url());
        double perRequest = await AllocationProbe.BytesPerResultRequestAsync(() => client.FetchResultAsync(request), settledBytes: 40);
        TestContext.Out.WriteLine($"{perRequest:F2} B per buffered keep-alive request with FetchResultAsync");
        Assert.That(perRequest, Is.LessThan(41));
    });

    [Test]
    public void FetchResult_ThePooledState_KeepsNeitherTheRequestNorTheBody() => Run(async () =>
    {
        // The fetch state keeps the response object it refills while it waits in the pool; once
        // the caller has the value, that object must not hold the caller's request or body alive.
        using var raw = AllocationProbe.Answering("Hello, world!");
        AsyncHttpClient client = CreateClient();
        var request = new HttpRequest(raw.Url());
        HttpResult result = await client.FetchResultAsync(request);
        Assert.That(result.Body.Length, Is.EqualTo(13));
        HttpResponse[] kept = [.. client.PooledFetchStates.Select(state => state.ReusedResponse).OfType<HttpResponse>()];
        Assert.That(kept, Has.Length.EqualTo(1));
        Assert.That(kept[0].Request, Is.Null);
        Assert.That(kept[0].Body, Is.Empty);
        Assert.That(kept[0].EffectiveUrl, Is.Empty);
    });

    [Test]
    public void NewRequest_NoOptionsSet_IsSmall()
    {
        // The URL, method, headers, body, body producer and the options object, not made until an
        // option is set: 64 bytes on a 64-bit runtime (thirty options stored inline made it ~290).
        string url = "http://example.com/";
        _ = new HttpRequest(url);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var request = new HttpRequest(url);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(request.Url, Is.EqualTo(url));
        Assert.That(allocated, Is.LessThanOrEqualTo(72));
    }
}
