using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>A stream's operations take a CancellationToken: cancelling a pending one closes the stream; a token cancelled before the call leaves it as it was.</summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.ReadWriteStreams))]
public sealed class StreamCancellationTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    [Test]
    public void ReadBytesAsync_CancelledWhilePending_FailsWithTheTokenAndClosesTheStream() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        using var cancel = new CancellationTokenSource();
        ValueTask<byte[]> read = client.ReadBytesAsync(10, cancellationToken: cancel.Token);
        Assert.That(read.IsCompleted, Is.False);
        cancel.Cancel();
        OperationCanceledException error = await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await read);
        Assert.That(error.CancellationToken, Is.EqualTo(cancel.Token));
        Assert.That(client.IsClosed, Is.True);
        Assert.That(client.Error, Is.InstanceOf<OperationCanceledException>());
    });

    [Test]
    public void ReadUntilAsync_TokenCancelledBeforeTheCall_FailsAtOnceAndKeepsTheStream() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("\n"), cancellationToken: new CancellationToken(canceled: true));
        Assert.That(read.IsCanceled, Is.True);
        Assert.That(client.IsClosed, Is.False);
        Assert.That(client.IsReading, Is.False, "no read was started");
        await server.WriteAsync(Bytes("line\n"));
        Assert.That(Text(await client.ReadUntilAsync(Bytes("\n"))), Is.EqualTo("line\n"));
    });

    [Test]
    public void ReadUntilAsync_CompletedBeforeTheCancel_IsUnaffected() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        using var cancel = new CancellationTokenSource();
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("\n"), cancellationToken: cancel.Token);
        await server.WriteAsync(Bytes("one\ntwo\n"));
        Assert.That(Text(await read), Is.EqualTo("one\n"));
        cancel.Cancel();
        Assert.That(client.IsClosed, Is.False);
        Assert.That(Text(await client.ReadUntilAsync(Bytes("\n"))), Is.EqualTo("two\n"), "what was buffered is still there");
    });

    [Test]
    public void ReadIntoAsync_CancelledFromAnotherThread_EndsOnTheLoop() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        using var cancel = new CancellationTokenSource();
        ValueTask<int> read = client.ReadIntoAsync(new byte[4], cancellationToken: cancel.Token);
        await Task.Run(cancel.Cancel);
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await read);
        Assert.That(Loop.IsOnLoopThread, Is.True);
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void ReadStreamingAsync_CancelledMidway_KeepsWhatWasDeliveredAndFails() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        using var cancel = new CancellationTokenSource();
        long delivered = 0;
        var first = new TaskCompletionSource();
        ValueTask<long> read = client.ReadStreamingAsync(chunk => { delivered += chunk.Length; first.TrySetResult(); }, 100, cancel.Token);
        await server.WriteAsync(Bytes("abc"));
        await first.Task;
        cancel.Cancel();
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await read);
        Assert.That(delivered, Is.EqualTo(3));
    });

    [Test]
    public void WriteAsync_CancelledWhileTheKernelBufferIsFull_FailsAndClosesTheStream() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        using var cancel = new CancellationTokenSource();
        byte[] chunk = new byte[256 * 1024];
        ValueTask write = default;
        for (int i = 0; i < 256; i++)
        {
            write = client.WriteAsync(chunk, cancel.Token);
            if (!write.IsCompleted)
            {
                break;
            }

            await write;
        }

        Assert.That(write.IsCompleted, Is.False, "the peer reads nothing, so a write must wait");
        cancel.Cancel();
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await write);
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void WriteAsync_TokenCancelledBeforeTheCall_SendsNothing() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask write = client.WriteAsync(Bytes("lost"), new CancellationToken(canceled: true));
        Assert.That(write.IsCanceled, Is.True);
        await client.WriteAsync(Bytes("kept\n"));
        Assert.That(Text(await server.ReadUntilAsync(Bytes("\n"))), Is.EqualTo("kept\n"));
    });
}
