using System.Buffers;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// What a large body costs in allocations once the client is warm, for both clients (counts, not
/// timings): streamed, it costs nothing per chunk; pooled or written to a reused writer, far less
/// than its size. On a quiet loop: the curl client's debug log, on in the other fixtures, turns
/// transfers verbose and formats curl's lines, which is not what is measured here.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class BodyAllocationTests(Type clientType) : QuietLoopFixture
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private const int Large = 1024 * 1024;
    private const int Warmup = 10;
    private const int Measured = 30;

    // A Debug build's fetch allocates about 1 to 2 KB on the loop thread (its async state machines,
    // the request, the response); a 1 MiB body gathered into a new array would add 1 MiB.
    private const int MaxBytesPerLargeFetch = 16 * 1024;

    [TestCase("/length")]
    [TestCase("/chunked")]
    [TestCase("/gzip")]
    public void StreamingCallback_LargeBody_AllocatesNothingPerChunk(string path) => Run(async client =>
    {
        using var small = new BodyTestServer(13);
        using var large = new BodyTestServer(Large);
        long received = 0;
        long chunks = 0;
        Action<ReadOnlyMemory<byte>> count = chunk =>
        {
            received += chunk.Length;
            chunks++;
        };
        string smallUrl = small.Url(path);
        string largeUrl = large.Url(path);
        double perSmall = await BytesPerFetchAsync(() => client.FetchAsync(new HttpRequest(smallUrl) { StreamingCallback = count }));
        received = chunks = 0;
        double perLarge = await BytesPerFetchAsync(() => client.FetchAsync(new HttpRequest(largeUrl) { StreamingCallback = count }));
        double chunksPerFetch = chunks / (double)(Warmup + Measured);
        TestContext.Out.WriteLine($"streamed {path}: {perSmall:F0} B per 13 B fetch, {perLarge:F0} B per 1 MiB fetch in {chunksPerFetch:F0} chunks");
        Assert.That(received, Is.EqualTo((long)Large * (Warmup + Measured)));
        Assert.That(chunksPerFetch, Is.GreaterThan(4), "the body came in pieces");

        // Anything allocated per chunk (a closure, a copy, a boxed state) would cost at least 24 B
        // times the chunks; the difference allowed is below one such object per chunk.
        Assert.That(perLarge - perSmall, Is.LessThan(Math.Max(256, 24 * chunksPerFetch)));
    });

    [Test]
    public void PooledBody_ManyLargeFetches_AllocateFarLessThanTheirBodies() => Run(async client =>
    {
        using var server = new BodyTestServer(Large);
        string url = server.Url("/length");
        long received = 0;
        double perFetch = await BytesPerFetchAsync(async () =>
        {
            HttpResponse response = await client.FetchAsync(new HttpRequest(url) { PooledBody = true });
            received += response.BodyMemory.Length;
            response.Dispose();
            return response;
        });
        TestContext.Out.WriteLine($"pooled: {perFetch:F0} B per 1 MiB fetch");
        Assert.That(received, Is.EqualTo((long)Large * (Warmup + Measured)));
        Assert.That(perFetch, Is.LessThan(MaxBytesPerLargeFetch));
    });

    [Test]
    public void PooledBody_ManyChunkedFetches_AllocateFarLessThanTheirBodies() => Run(async client =>
    {
        using var server = new BodyTestServer(Large);
        string url = server.Url("/chunked");
        double perFetch = await BytesPerFetchAsync(async () =>
        {
            HttpResponse response = await client.FetchAsync(new HttpRequest(url) { PooledBody = true });
            Assert.That(response.BodyMemory.Length, Is.EqualTo(Large));
            response.Dispose();
            return response;
        });
        TestContext.Out.WriteLine($"pooled, chunked: {perFetch:F0} B per 1 MiB fetch");
        Assert.That(perFetch, Is.LessThan(MaxBytesPerLargeFetch));
    });

    [Test]
    public void BodyWriter_ReusedWriter_AllocatesFarLessThanTheBodies() => Run(async client =>
    {
        using var server = new BodyTestServer(Large);
        string url = server.Url("/length");
        var writer = new ArrayBufferWriter<byte>(Large);
        double perFetch = await BytesPerFetchAsync(async () =>
        {
            writer.ResetWrittenCount();
            HttpResponse response = await client.FetchAsync(new HttpRequest(url) { BodyWriter = writer });
            Assert.That(writer.WrittenCount, Is.EqualTo(Large));
            return response;
        });
        TestContext.Out.WriteLine($"body writer: {perFetch:F0} B per 1 MiB fetch");
        Assert.That(perFetch, Is.LessThan(MaxBytesPerLargeFetch));
    });

    /// <summary>Runs <paramref name="body"/> on the loop with a client of the fixture's kind, which is closed after.</summary>
    private void Run(Func<AsyncHttpClient, Task> body)
    {
        var client = (AsyncHttpClient)Activator.CreateInstance(clientType, Loop, new AsyncHttpClientSettings())!;
        try
        {
            Loop.RunSync(() => body(client), TestTimeout);
        }
        finally
        {
            client.Close();

            // Close callbacks of the pooled connections run as loop callbacks.
            for (int i = 0; i < 10 && Loop.PendingCallbackCount > 0; i++)
            {
                Loop.RunOnce(TimeSpan.Zero);
            }
        }
    }

    /// <summary>Bytes allocated on the loop thread per <paramref name="fetch"/>, over <see cref="Measured"/> fetches after <see cref="Warmup"/>.</summary>
    private static Task<double> BytesPerFetchAsync(Func<Task<HttpResponse>> fetch) => AllocationProbe.BytesPerRequestAsync(fetch, Warmup, Measured);
}
