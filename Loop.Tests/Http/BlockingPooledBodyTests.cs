using System.Buffers;
using Loop.Http;

namespace Loop.Tests.Http;

/// <summary>The blocking client returns pooled responses and fills body writers as the async clients do.</summary>
public sealed class BlockingPooledBodyTests
{
    [Test]
    public void BlockingClient_PooledBody_ResponseOwnsTheMemoryUntilDisposed()
    {
        using var server = new BodyTestServer(200_000);
        using var client = new BlockingHttpClient(new AsyncHttpClientSettings { Defaults = new HttpFetchOptions { RequestTimeout = TimeSpan.FromSeconds(20) } });
        HttpResponse response = client.Fetch(new HttpRequest(server.Url("/chunked")) { PooledBody = true });
        Assert.That(response.IsBodyPooled, Is.True);
        Assert.That(response.BodyMemory.Span.SequenceEqual(server.Body), Is.True);
        response.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _ = response.BodyMemory);

        var writer = new ArrayBufferWriter<byte>();
        using HttpResponse written = client.Fetch(new HttpRequest(server.Url("/gzip")) { BodyWriter = writer });
        Assert.That(writer.WrittenSpan.SequenceEqual(server.Body), Is.True);
        Assert.That(written.Body, Is.Empty);
    }
}
