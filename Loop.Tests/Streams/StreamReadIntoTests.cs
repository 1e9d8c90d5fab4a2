using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>
/// A plain stream's read into the caller's memory with nothing buffered receives straight into
/// that memory (no copy through the read buffer, and so not in read-chunk steps); buffered bytes
/// still come first, and a close ends the read as before.
/// </summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.NativePlainStreams))]
public sealed class StreamReadIntoTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    private const int ChunkSize = 1024;

    [Test]
    public void ReadIntoAsync_NothingBuffered_ReceivesStraightIntoTheDestination_PastTheReadChunkSize() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { ReadChunkSize = ChunkSize });
        byte[] data = Random(64 * 1024, 1);
        var destination = new byte[256 * 1024];
        ValueTask<int> read = client.ReadIntoAsync(destination, partial: true);
        Assert.That(read.IsCompleted, Is.False);

        await server.WriteAsync(data);
        int n = await read;

        // Through the read buffer, a partial read completes with one read chunk at most.
        Assert.That(n, Is.GreaterThan(ChunkSize), "one receive went straight into the destination");
        Assert.That(client.BufferedByteCount, Is.Zero);
        if (n < data.Length)
        {
            Assert.That(await client.ReadIntoAsync(destination.AsMemory(n, data.Length - n)), Is.EqualTo(data.Length - n));
        }

        Assert.That(destination.AsSpan(0, data.Length).SequenceEqual(data), Is.True);
    });

    [Test]
    public void ReadIntoAsync_BufferedBytesFirst_ThenTheRestInPlace_AllInOrder() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { ReadChunkSize = ChunkSize });
        byte[] data = Random(200_000, 2);
        await server.WriteAsync(data.AsMemory(0, 10));
        while (client.BufferedByteCount < 10)
        {
            await client.ReadBytesAsync(0);
            await Task.Yield();
        }

        var destination = new byte[data.Length];
        ValueTask<int> read = client.ReadIntoAsync(destination);
        await server.WriteAsync(data.AsMemory(10));
        Assert.That(await read, Is.EqualTo(data.Length));
        Assert.That(destination.AsSpan().SequenceEqual(data), Is.True);
    });

    [Test]
    public void ReadIntoAsync_PeerClosesBeforeItIsFilled_FailsAsAClose_AndKeepsWhatCame() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { ReadChunkSize = ChunkSize });
        byte[] data = Random(5000, 3);
        var destination = new byte[10_000];
        ValueTask<int> read = client.ReadIntoAsync(destination);
        await server.WriteAsync(data);
        server.Close();
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
        Assert.That(destination.AsSpan(0, data.Length).SequenceEqual(data), Is.True, "the bytes that came are in the destination");
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void ReadIntoAsync_PartialAtTheEndOfTheStream_FailsAsAClose() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<int> read = client.ReadIntoAsync(new byte[100], partial: true);
        server.Close();
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
    });

    private static byte[] Random(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
