using System.Buffers;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// Bodies received into pooled memory (<see cref="HttpFetchOptions.PooledBody"/>) and into the
/// caller's writer (<see cref="HttpFetchOptions.BodyWriter"/>), for both clients: the bytes, who
/// owns the memory, and that every rented array goes back exactly once, on success and on failure.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class PooledBodyTests(Type clientType) : HttpClientFixture(clientType)
{
    private const int Size = 300_000;

    private static IEnumerable<string> Framings => BodyTestServer.Framings;

    [TestCaseSource(nameof(Framings))]
    public void PooledBody_EachFraming_BodyMemoryHoldsTheBytesSent(string framing) => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/" + framing)) { PooledBody = true });
        Assert.That(response.IsBodyPooled, Is.True);
        Assert.That(response.BodyMemory.Span.SequenceEqual(server.Body), Is.True);
        Assert.That(response.BodySpan.Length, Is.EqualTo(Size));
        Assert.That(pool.Outstanding, Is.EqualTo(1), "the response holds one rented array, nothing else is left out");
        response.Dispose();
        Assert.That(pool.Outstanding, Is.Zero);
        Assert.That(pool.BadReturns, Is.Zero);
    });

    [Test]
    public void PooledBody_KnownLength_RentsOnce() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        using HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/length")) { PooledBody = true });
        Assert.That(pool.Rents, Is.EqualTo(1));
        Assert.That(response.BodyMemory.Length, Is.EqualTo(Size));
    });

    [Test]
    public void Dispose_PooledResponse_ReturnsTheMemoryOnceAndBodyMemoryThrows() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/length")) { PooledBody = true });
        response.Dispose();
        response.Dispose();
        Parallel.For(0, 4, _ => response.Dispose());
        Assert.That(pool.Returns, Is.EqualTo(pool.Rents));
        Assert.That(pool.BadReturns, Is.Zero);
        Assert.Throws<ObjectDisposedException>(() => _ = response.BodyMemory);
        Assert.Throws<ObjectDisposedException>(() => _ = response.BodyStream);
        Assert.Throws<ObjectDisposedException>(() => _ = response.Body);
        Assert.That(response.Code, Is.EqualTo(200), "the rest of the response stays readable");
    });

    [Test]
    public void Body_PooledResponse_IsOneCopyThatOutlivesDispose() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, _) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/chunked")) { PooledBody = true });
        byte[] body = response.Body;
        Assert.That(body, Is.EqualTo(server.Body));
        Assert.That(response.Body, Is.SameAs(body));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(response.BodyMemory, out ArraySegment<byte> pooled) && pooled.Array != body, Is.True, "BodyMemory is the pooled array, not the copy");
        var stream = new MemoryStream();
        response.BodyStream.CopyTo(stream);
        Assert.That(stream.ToArray(), Is.EqualTo(server.Body));
        response.Dispose();
        Assert.That(response.Body, Is.SameAs(body));
    });

    [Test]
    public void Dispose_ResponseNotPooled_DoesNothing() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        HttpResponse response = await Client.FetchAsync(server.Url("/length"));
        response.Dispose();
        Assert.That(response.IsBodyPooled, Is.False);
        Assert.That(response.BodyMemory.Span.SequenceEqual(server.Body), Is.True);
        Assert.That(response.Body, Is.EqualTo(server.Body));
    });

    [Test]
    public void PooledBody_FromClientDefaults_IsPooledAndARequestCanTurnItOff() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { Defaults = new HttpFetchOptions { PooledBody = true } });
        using HttpResponse pooled = await client.FetchAsync(server.Url("/gzip"));
        Assert.That(pooled.IsBodyPooled, Is.True);
        Assert.That(pooled.BodyMemory.Span.SequenceEqual(server.Body), Is.True);
        using HttpResponse plain = await client.FetchAsync(new HttpRequest(server.Url("/gzip")) { PooledBody = false });
        Assert.That(plain.IsBodyPooled, Is.False);
    });

    [Test]
    public void PooledBody_EmptyBody_IsPooledWithNothingRented() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/length"), "HEAD") { PooledBody = true });
        Assert.That(response.IsBodyPooled, Is.True);
        Assert.That(response.BodyMemory.IsEmpty, Is.True);
        response.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _ = response.BodyMemory);
        Assert.That(pool.Outstanding, Is.Zero);
    });

    [Test]
    public void PooledBody_StreamClosedMidBody_ReturnsTheRentedMemory() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/short")) { PooledBody = true }, raiseError: false);
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>());
        Assert.That(pool.Rents, Is.GreaterThan(0));
        Assert.That(pool.Outstanding, Is.Zero);
        Assert.That(pool.BadReturns, Is.Zero);
    });

    [TestCase("chunked")]
    [TestCase("close")]
    [TestCase("gzip")]
    public void PooledBody_OverMaxBodySize_FailsAsBeforeAndReturnsTheRentedMemory(string framing) => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient(new AsyncHttpClientSettings { MaxBodySize = Size / 3 });
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/" + framing)) { PooledBody = true }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpBodyTooLargeError>());
        Assert.That(pool.Outstanding, Is.Zero);
        Assert.That(pool.BadReturns, Is.Zero);
    });

    [Test]
    public void PooledBody_AfterRedirect_HoldsTheFinalBodyOnly() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/redirect")) { PooledBody = true });
        Assert.That(response.EffectiveUrl, Does.EndWith("/length"));
        Assert.That(response.BodyMemory.Span.SequenceEqual(server.Body), Is.True);
        response.Dispose();
        Assert.That(pool.Outstanding, Is.Zero);
    });

    [TestCaseSource(nameof(Framings))]
    public void BodyWriter_EachFraming_ReceivesExactlyTheBody(string framing) => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        var writer = new ArrayBufferWriter<byte>();
        using HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/" + framing)) { BodyWriter = writer, PooledBody = true });
        Assert.That(writer.WrittenSpan.SequenceEqual(server.Body), Is.True);
        Assert.That(response.Body, Is.Empty);
        Assert.That(response.IsBodyPooled, Is.False, "the writer has the body; nothing is pooled");
        Assert.That(pool.Outstanding, Is.Zero);
    });

    [Test]
    public void BodyWriter_AfterRedirect_HoldsOnlyTheFinalBody() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        var writer = new ArrayBufferWriter<byte>();
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url("/redirect")) { BodyWriter = writer });
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(writer.WrittenSpan.SequenceEqual(server.Body), Is.True);
    });

    [Test]
    public void BodyWriter_RedirectNotFollowed_HoldsTheRedirectsBody() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        var writer = new ArrayBufferWriter<byte>();
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url("/redirect")) { BodyWriter = writer, FollowRedirects = false }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(302));
        Assert.That(System.Text.Encoding.ASCII.GetString(writer.WrittenSpan), Is.EqualTo(BodyTestServer.RedirectBody));
    });

    [Test]
    public void BodyWriter_StreamClosedMidBody_HoldsTheBytesReceived() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        var writer = new ArrayBufferWriter<byte>();
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url("/short")) { BodyWriter = writer }, raiseError: false);
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>());
        Assert.That(writer.WrittenSpan.SequenceEqual(server.Body.AsSpan(0, Size / 2)), Is.True);
    });

    [Test]
    public void BodyWriter_OverMaxBodySize_HoldsNoMoreThanTheLimit() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = Size / 3 });
        var writer = new ArrayBufferWriter<byte>();
        HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/chunked")) { BodyWriter = writer }, raiseError: false);
        Assert.That(response.Error, Is.InstanceOf<HttpBodyTooLargeError>());
        Assert.That(writer.WrittenCount, Is.LessThanOrEqualTo(Size / 3));
        Assert.That(writer.WrittenSpan.SequenceEqual(server.Body.AsSpan(0, writer.WrittenCount)), Is.True);
    });

    [Test]
    public void BodyWriter_WriterThrows_FetchFailsWithItsException() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        HttpResponse response = await Client.FetchAsync(new HttpRequest(server.Url("/length")) { BodyWriter = new FullWriter() }, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error?.InnerException, Is.InstanceOf<InvalidOperationException>());
    });

    [Test]
    public void BodyWriter_WithStreamingCallback_IsRejectedAtTheCall() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        var request = new HttpRequest(server.Url("/length")) { BodyWriter = new ArrayBufferWriter<byte>(), StreamingCallback = _ => { } };
        ArgumentException error = Assert.Throws<ArgumentException>(() => Client.FetchAsync(request, raiseError: false))!;
        Assert.That(error.Message, Does.Contain("BodyWriter").And.Contain("StreamingCallback"));
        var asyncRequest = new HttpRequest(server.Url("/length")) { BodyWriter = new ArrayBufferWriter<byte>(), AsyncStreamingCallback = _ => ValueTask.CompletedTask };
        Assert.Throws<ArgumentException>(() => Client.FetchAsync(asyncRequest, raiseError: false));
        await Task.CompletedTask;
    });

    [Test]
    public void StreamingCallback_WithPooledBody_StreamsAndRentsNothing() => Run(async () =>
    {
        using var server = new BodyTestServer(Size);
        (AsyncHttpClient client, CountingPool pool) = CreateCountedClient();
        long received = 0;
        using HttpResponse response = await client.FetchAsync(new HttpRequest(server.Url("/chunked")) { PooledBody = true, StreamingCallback = chunk => received += chunk.Length });
        Assert.That(received, Is.EqualTo(Size));
        Assert.That(response.Body, Is.Empty);
        Assert.That(pool.Rents, Is.Zero, "a streamed body is never gathered");
    });

    /// <summary>A writer that refuses every byte.</summary>
    private sealed class FullWriter : IBufferWriter<byte>
    {
        public void Advance(int count) => throw new InvalidOperationException("full");

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException("full");

        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException("full");
    }

    private (AsyncHttpClient Client, CountingPool Pool) CreateCountedClient(AsyncHttpClientSettings? settings = null)
    {
        AsyncHttpClient client = CreateClient(settings);
        var pool = new CountingPool();
        client.BodyPool = pool;
        return (client, pool);
    }
}

/// <summary>What only the curl client does (digest authentication) with a body writer and a pooled body.</summary>
public sealed class CurlBodyWriterTests() : HttpClientFixture(typeof(Loop.Curl.CurlAsyncHttpClient))
{
    [Test]
    public void BodyWriter_DigestChallengeAnswered_HoldsOnlyTheFinalBody() => Run(async () =>
    {
        var writer = new ArrayBufferWriter<byte>();
        HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.Url("/digest")) { AuthUsername = "foo", AuthPassword = "bar", AuthMode = HttpAuthMode.Digest, BodyWriter = writer });
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(System.Text.Encoding.ASCII.GetString(writer.WrittenSpan), Is.EqualTo("ok"));
    });

    [Test]
    public void PooledBody_DigestChallengeAnswered_HoldsOnlyTheFinalBody() => Run(async () =>
    {
        using HttpResponse response = await Client.FetchAsync(new HttpRequest(Server.Url("/digest")) { AuthUsername = "foo", AuthPassword = "bar", AuthMode = HttpAuthMode.Digest, PooledBody = true });
        Assert.That(System.Text.Encoding.ASCII.GetString(response.BodySpan), Is.EqualTo("ok"));
    });
}
