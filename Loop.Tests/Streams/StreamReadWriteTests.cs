using System.Buffers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>Tornado's TestReadWriteMixin, for plain and TLS streams (iostream_test.py).</summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.ReadWriteStreams))]
public sealed class StreamReadWriteTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    [Test]
    public void WriteAsync_ZeroBytes_CompletesAtOnce() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        ValueTask write = client.WriteAsync(ReadOnlyMemory<byte>.Empty);
        Assert.That(write.IsCompletedSuccessfully, Is.True);
        await write;
    });

    [Test]
    public void ReadBytesAsync_AfterPeerClosed_StillReturnsBufferedData() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("12"));
        Assert.That(Text(await client.ReadBytesAsync(1)), Is.EqualTo("1"));
        var closed = new TaskCompletionSource();
        client.SetCloseCallback(() => closed.SetResult());
        server.Close();
        await closed.Task;
        Assert.That(Text(await client.ReadBytesAsync(1)), Is.EqualTo("2"));
    });

    [Test]
    public void ReadBytesAsync_DataStillInKernelWhenPeerCloses_IsDelivered() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { ReadChunkSize = 256 });
        await server.WriteAsync(new byte[512]);
        server.Close();
        Assert.That(await client.ReadBytesAsync(256), Has.Length.EqualTo(256));
        Assert.That(await client.ReadBytesAsync(256), Has.Length.EqualTo(256));
    });

    [Test]
    public void ReadUntilCloseAsync_AfterPeerClosed_ReturnsTheRest() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("1234"));
        server.Close();
        Assert.That(Text(await client.ReadBytesAsync(1)), Is.EqualTo("1"));
        Assert.That(Text(await client.ReadUntilCloseAsync()), Is.EqualTo("234"));
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void ReadUntilAsync_FourMegabyteLine_ReturnsAllOfIt() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var chunk = new byte[1024];
        Array.Fill(chunk, (byte)'x');
        ValueTask<byte[]> line = client.ReadUntilAsync(Bytes("\r\n"));
        for (int i = 0; i < 4096; i++)
        {
            _ = server.WriteAsync(chunk);
        }

        await server.WriteAsync(Bytes("\r\n"));
        Assert.That((await line).Length, Is.EqualTo((4096 * 1024) + 2));
    });

    [TestCase("\r\n\r\n", 3)]
    [TestCase("\r\n\r\n", 1)]
    [TestCase("abcab", 2)]
    public void ReadUntilAsync_OneByteAtATime_FindsADelimiterSplitAcrossReads(string delimiter, int chunkSize) => Run(async () =>
    {
        // Tiny read chunks make every receive a byte or three, whatever TCP coalesces, so the
        // delimiter search runs again on each; "abcab" overlaps itself, so a partial match at the
        // end of what was scanned must be looked at again.
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { ReadChunkSize = chunkSize });
        string head = "GET / HTTP/1.1" + "abca" + "ab" + "\r\n\r" + delimiter;
        string tail = "tail";
        ValueTask<byte[]> line = client.ReadUntilAsync(Bytes(delimiter), maxBytes: 64);
        foreach (byte b in Bytes(head + tail))
        {
            await server.WriteAsync(new[] { b });
            await Task.Yield();
        }

        int end = (head + tail).IndexOf(delimiter, StringComparison.Ordinal) + delimiter.Length;
        Assert.That(Text(await line), Is.EqualTo((head + tail)[..end]));
        Assert.That(Text(await client.ReadBytesAsync(head.Length + tail.Length - end)), Is.EqualTo((head + tail)[end..]));
    });

    [Test]
    public void ReadUntilAsync_DelimiterArrivesWithClose_Resolves() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("done"));
        await server.WriteAsync(new byte[2048]);
        await server.WriteAsync(Bytes("done"));
        server.Close();
        Assert.That((await read).Length, Is.EqualTo(2052));
    });

    [Test]
    public void ReadUntilAsync_UnsatisfiedWhenPeerCloses_FailsWithStreamClosed() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("done"));
        await server.WriteAsync(new byte[2048]);
        await server.WriteAsync(Bytes("foo"));
        server.Close();
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
    });

    [Test]
    public void CloseCallback_WithReadPending_Runs() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var closed = new TaskCompletionSource();
        client.SetCloseCallback(closed.SetResult);
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("\r\n"));
        server.Close();
        await closed.Task;
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
    });

    [Test]
    public void CloseCallback_RunsOnlyOnceThePeerCloses() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        bool closed = false;
        var closedTask = new TaskCompletionSource();
        client.SetCloseCallback(() =>
        {
            closed = true;
            closedTask.SetResult();
        });
        await server.WriteAsync(Bytes("abcd"));
        Assert.That(Text(await client.ReadBytesAsync(4)), Is.EqualTo("abcd"));
        Assert.That(closed, Is.False);
        server.Close();
        await closedTask.Task;
        Assert.That(closed, Is.True);
    });

    [Test]
    public void WriteAsync_Memory_SendsItsBytes() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await client.WriteAsync(Bytes("xhellox").AsMemory(1, 5));
        Assert.That(Text(await server.ReadBytesAsync(4)), Is.EqualTo("hell"));
    });

    [Test]
    public void ReadBytesAsync_Partial_ReturnsWhatArrivedUpToTheCount() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("hello"));
        Assert.That(Text(await client.ReadBytesAsync(50, partial: true)), Is.EqualTo("hello"));
        await server.WriteAsync(Bytes("world"));
        Assert.That(Text(await client.ReadBytesAsync(3, partial: true)), Is.EqualTo("wor"));
        ValueTask<byte[]> zero = client.ReadBytesAsync(0, partial: true);
        Assert.That(zero.IsCompletedSuccessfully, Is.True);
        Assert.That(await zero, Is.Empty);
        Assert.That(Text(await client.ReadBytesAsync(2)), Is.EqualTo("ld"));
    });

    [Test]
    public void ReadBytesAsync_Zero_CompletesAtOnceBetweenReads() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("HTTP/1.1 200"));
        Assert.That(Text(await client.ReadBytesAsync(9)), Is.EqualTo("HTTP/1.1 "));
        Assert.That(await client.ReadBytesAsync(0), Is.Empty);
        Assert.That(Text(await client.ReadBytesAsync(3)), Is.EqualTo("200"));
    });

    [Test]
    public void ReadUntilAsync_WithinMaxBytes_Succeeds() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> first = client.ReadUntilAsync(Bytes("def"), maxBytes: 50);
        await server.WriteAsync(Bytes("abcdef"));
        Assert.That(Text(await first), Is.EqualTo("abcdef"));
        ValueTask<byte[]> second = client.ReadUntilAsync(Bytes("def"), maxBytes: 6);
        await server.WriteAsync(Bytes("abcdef"));
        Assert.That(Text(await second), Is.EqualTo("abcdef"));
    });

    [Test]
    public void ReadUntilAsync_DelimiterNotWithinMaxBytes_ThrowsUnsatisfiableAndCloses() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var closed = new TaskCompletionSource();
        client.SetCloseCallback(closed.SetResult);
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("def"), maxBytes: 5);
        await server.WriteAsync(Bytes("123456"));
        Assert.That((await AsyncAssert.ThrowsAsync<UnsatisfiableReadException>(async () => await read)).Message, Does.Contain("not found within 5 bytes"));
        await closed.Task;
        Assert.That(client.Error, Is.TypeOf<UnsatisfiableReadException>());
        Assert.That(Log.Entries.Any(e => e.EventId.Id == 101), Is.True, "the unsatisfiable read is logged");
    });

    [Test]
    public void ReadUntilAsync_MaxBytesExceededByBufferedData_FailsWithoutThrowingAtTheCall() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("123456"));
        await client.ReadBytesAsync(1, partial: true);
        while (client.BufferedByteCount < 5)
        {
            await client.ReadBytesAsync(0);
            await Task.Yield();
        }

        var closed = new TaskCompletionSource();
        client.SetCloseCallback(closed.SetResult);
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("def"), maxBytes: 4);
        Assert.That(read.IsFaulted, Is.True);
        await AsyncAssert.ThrowsAsync<UnsatisfiableReadException>(async () => await read);
        await closed.Task;
    });

    [Test]
    public void ReadUntilAsync_DelimiterInSamePacketButPastMaxBytes_Fails() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("def"), maxBytes: 5);
        await server.WriteAsync(Bytes("abcdef"));
        await AsyncAssert.ThrowsAsync<UnsatisfiableReadException>(async () => await read);
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void ReadUntilRegexAsync_WithinMaxBytes_Succeeds() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> first = client.ReadUntilRegexAsync(new Regex("def"), maxBytes: 50);
        await server.WriteAsync(Bytes("abcdef"));
        Assert.That(Text(await first), Is.EqualTo("abcdef"));
        ValueTask<byte[]> second = client.ReadUntilRegexAsync(new Regex("d[e]f"), maxBytes: 6);
        await server.WriteAsync(Bytes("abcdefgh"));
        Assert.That(Text(await second), Is.EqualTo("abcdef"));
        Assert.That(Text(await client.ReadBytesAsync(2)), Is.EqualTo("gh"));
    });

    [Test]
    public void ReadUntilRegexAsync_NoMatchWithinMaxBytes_ThrowsUnsatisfiableAndCloses() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilRegexAsync(new Regex("def"), maxBytes: 5);
        await server.WriteAsync(Bytes("123456"));
        await AsyncAssert.ThrowsAsync<UnsatisfiableReadException>(async () => await read);
        Assert.That(client.IsClosed, Is.True);
    });

    [Test]
    public void ReadUntilRegexAsync_MatchInSamePacketButPastMaxBytes_Fails() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadUntilRegexAsync(new Regex("def"), maxBytes: 5);
        await server.WriteAsync(Bytes("abcdef"));
        await AsyncAssert.ThrowsAsync<UnsatisfiableReadException>(async () => await read);
    });

    [Test]
    public void ReadBytesAsync_SmallReadsFromLargerPendingData_NeverExceedTheBuffer() => Run(async () =>
    {
        var options = new IOStreamOptions { MaxBufferSize = 10 * 1024 };
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(options, options);
        Task write = server.WriteAsync(new byte[100 * 1024]).AsTask();
        for (int i = 0; i < 100; i++)
        {
            Assert.That(await client.ReadBytesAsync(1024), Has.Length.EqualTo(1024));
            Assert.That(client.BufferedByteCount, Is.LessThanOrEqualTo(options.MaxBufferSize));
        }

        await write;
    });

    [Test]
    public void ReadUntilAsync_SmallLinesFromLargerPendingData_NeverExceedTheBuffer() => Run(async () =>
    {
        var options = new IOStreamOptions { MaxBufferSize = 10 * 1024 };
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(options, options);
        var line = new byte[1024];
        Array.Fill(line, (byte)'a');
        line[^1] = (byte)'\n';
        byte[] all = Enumerable.Repeat(line, 100).SelectMany(x => x).ToArray();
        Task write = server.WriteAsync(all).AsTask();
        for (int i = 0; i < 100; i++)
        {
            Assert.That(await client.ReadUntilAsync(Bytes("\n"), maxBytes: 4096), Has.Length.EqualTo(1024));
        }

        await write;
    });

    [Test]
    public void Reading_SlowerThanTheWriter_HoldsTheWriterBackInsteadOfBuffering() => Run(async () =>
    {
        var options = new IOStreamOptions { MaxBufferSize = 512 * 1024 };
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(options, options);
        const int Total = 8 * 1024 * 1024;
        Task write = server.WriteAsync(new byte[Total]).AsTask();
        Assert.That(write.IsCompleted, Is.False, "8 MiB cannot all fit in the kernel's buffers");
        Assert.That(server.IsWriting, Is.True);
        int read = 0;
        while (read < Total)
        {
            read += (await client.ReadBytesAsync(64 * 1024)).Length;
            Assert.That(client.BufferedByteCount, Is.LessThanOrEqualTo(options.MaxBufferSize));
        }

        await write;
        Assert.That(server.IsWriting, Is.False);
    });

    [Test]
    public void ReadIntoAsync_FillsTheBufferAcrossWrites() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var buffer = new byte[10];
        ValueTask<int> read = client.ReadIntoAsync(buffer);
        await server.WriteAsync(Bytes("hello"));
        Assert.That(client.IsReading, Is.True);
        await server.WriteAsync(Bytes("world!!"));
        Assert.That(await read, Is.EqualTo(10));
        Assert.That(client.IsReading, Is.False);
        Assert.That(Text(buffer), Is.EqualTo("helloworld"));

        await server.WriteAsync(Bytes("1234567890"));
        read = client.ReadIntoAsync(buffer);
        Assert.That(await read, Is.EqualTo(10));
        Assert.That(Text(buffer), Is.EqualTo("!!12345678"));

        await server.WriteAsync(Bytes("abcdefghi"));
        buffer = new byte[4];
        Assert.That(await client.ReadIntoAsync(buffer), Is.EqualTo(4));
        Assert.That(Text(buffer), Is.EqualTo("90ab"));
        Assert.That(Text(await client.ReadBytesAsync(7)), Is.EqualTo("cdefghi"));
    });

    [Test]
    public void ReadIntoAsync_Partial_ReturnsAsSoonAsSomeBytesArrive() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var buffer = new byte[10];
        ValueTask<int> read = client.ReadIntoAsync(buffer, partial: true);
        await server.WriteAsync(Bytes("hello"));
        Assert.That(await read, Is.EqualTo(5));
        Assert.That(buffer, Is.EqualTo(Bytes("hello\0\0\0\0\0")));

        await server.WriteAsync(Bytes("world!1234567890"));
        while (client.BufferedByteCount < 16)
        {
            await client.ReadBytesAsync(0);
            await Task.Yield();
        }

        Assert.That(await client.ReadIntoAsync(buffer, partial: true), Is.EqualTo(10));
        Assert.That(Text(buffer), Is.EqualTo("world!1234"));
        Assert.That(await client.ReadIntoAsync(buffer, partial: true), Is.EqualTo(6));
        Assert.That(Text(buffer), Is.EqualTo("5678901234"));
    });

    [Test]
    public void ReadIntoAsync_EmptyBuffer_CompletesAtOnceWithZero() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        ValueTask<int> read = client.ReadIntoAsync(Memory<byte>.Empty);
        Assert.That(read.IsCompletedSuccessfully, Is.True);
        Assert.That(await read, Is.Zero);
    });

    [Test]
    public void MixedReads_OfRandomSizes_ReturnExactlyWhatWasWritten() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var random = new Random(1234);
        var data = new byte[1_000_000];
        random.NextBytes(data);
        Task write = server.WriteAsync(data).AsTask();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        int remaining = data.Length;
        while (remaining > 0)
        {
            int size = Math.Min(remaining, random.Next(1, 1001));
            if (random.Next(2) == 0)
            {
                byte[] chunk = await client.ReadBytesAsync(size);
                hash.AppendData(chunk);
            }
            else
            {
                var chunk = new byte[size];
                Assert.That(await client.ReadIntoAsync(chunk), Is.EqualTo(size));
                hash.AppendData(chunk);
            }

            remaining -= size;
        }

        await write;
        Assert.That(hash.GetHashAndReset(), Is.EqualTo(SHA1.HashData(data)));
    });

    [Test]
    public void WriteAsync_ManyConcurrentWriters_EveryWriteCompletesAndAllDataArrives() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        const int Writers = 10;
        const int Writes = 200;
        const int Size = 5000;
        var writes = new List<Task>();
        Task<long> reader = client.ReadStreamingAsync(_ => { }, (long)Writers * Writes * Size).AsTask();
        async Task Writer(byte fill)
        {
            var block = new byte[Size];
            Array.Fill(block, fill);
            for (int i = 0; i < Writes; i++)
            {
                await server.WriteAsync(block);
            }
        }

        for (int w = 0; w < Writers; w++)
        {
            writes.Add(Writer((byte)w));
        }

        await Task.WhenAll(writes);
        Assert.That(await reader, Is.EqualTo((long)Writers * Writes * Size));
    });

    [Test]
    public void ReadStreamingAsync_UntilClose_HandsOverEveryChunk() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var received = new MemoryStream();
        int chunks = 0;
        ValueTask<long> read = client.ReadStreamingAsync(sequence =>
        {
            chunks++;
            foreach (ReadOnlyMemory<byte> segment in sequence)
            {
                received.Write(segment.Span);
            }
        });
        var data = new byte[100_000];
        new Random(5).NextBytes(data);
        await server.WriteAsync(data);
        server.Close();
        Assert.That(await read, Is.EqualTo(data.Length));
        Assert.That(received.ToArray(), Is.EqualTo(data));
        Assert.That(chunks, Is.GreaterThan(1));
    });

    [TestCase(-1L)]
    [TestCase(100L)]
    public void ReadStreamingAsync_CallbackClosesTheStream_SettlesEverything(long byteCount) => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        var closed = new TaskCompletionSource();
        client.SetCloseCallback(closed.SetResult);
        long seen = 0;
        ValueTask<long> read = client.ReadStreamingAsync(chunk =>
        {
            seen += chunk.Length;
            client.Close();
        }, byteCount);
        await server.WriteAsync(Bytes("abc"));
        if (byteCount < 0)
        {
            // Reading until the close: the close the callback made ends it with what was delivered.
            Assert.That(await read, Is.EqualTo(seen));
        }
        else
        {
            await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
        }

        await closed.Task;
        Assert.That(seen, Is.GreaterThan(0));
    });

    [Test]
    public void Output_MemoryHeldWhenTheStreamCloses_AdvanceAndFlushReportTheClose() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        System.IO.Pipelines.PipeWriter output = client.Output;
        Memory<byte> memory = output.GetMemory(100);
        client.Close();

        // The memory stays the holder's (it was not given back to the pool under it).
        "late"u8.CopyTo(memory.Span);
        output.Advance(4);
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await output.FlushAsync());
    });

    [Test]
    public void ReadStreamingAsync_CallbackThrows_FailsTheReadAndClosesTheStream() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<long> read = client.ReadStreamingAsync(_ => throw new FormatException("bad chunk"), 100);
        await server.WriteAsync(Bytes("abc"));
        await AsyncAssert.ThrowsAsync<FormatException>(async () => await read);
        Assert.That(client.IsClosed, Is.True);
        Assert.That(client.Error, Is.TypeOf<FormatException>());
    });

    [Test]
    public void SecondRead_WhileOneIsPending_IsRefused() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> first = client.ReadBytesAsync(3);
        InvalidOperationException? second = Assert.Throws<InvalidOperationException>(() => _ = client.ReadBytesAsync(1));
        Assert.That(second?.Message, Does.Contain("Already reading"));
        Assert.Throws<InvalidOperationException>(() => _ = client.Input.ReadAsync());
        await server.WriteAsync(Bytes("abc"));
        Assert.That(Text(await first), Is.EqualTo("abc"));
    });

    [Test]
    public void Read_OnClosedStreamWithNothingBuffered_ThrowsStreamClosed() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("x"));
        server.Close();
        Assert.That(Text(await client.ReadUntilCloseAsync()), Is.EqualTo("x"));
        ValueTask<byte[]> read = client.ReadBytesAsync(1);
        Assert.That(read.IsFaulted, Is.True);
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
        await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await client.WriteAsync(Bytes("y")));
    });

    [Test]
    public void ReadUntilAsync_NoDelimiterWithinMaxBufferSize_ClosesWithBufferFull() => Run(async () =>
    {
        var options = new IOStreamOptions { MaxBufferSize = 4096, ReadChunkSize = 1024 };
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(options);
        ValueTask<byte[]> read = client.ReadUntilAsync(Bytes("\n"));
        _ = server.WriteAsync(new byte[16 * 1024]);
        await AsyncAssert.ThrowsAsync<StreamBufferFullException>(async () => await read);
        Assert.That(client.IsClosed, Is.True);
        Assert.That(client.Error, Is.TypeOf<StreamBufferFullException>());
    });

    [Test]
    public void WriteAsync_BeyondMaxWriteBufferSize_IsRefusedAndTheStreamStaysOpen() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync(new IOStreamOptions { MaxWriteBufferSize = 64 * 1024 });
        var pending = new List<Task>();
        while (client.PendingWriteByteCount == 0)
        {
            pending.Add(client.WriteAsync(new byte[60 * 1024]).AsTask());
        }

        await AsyncAssert.ThrowsAsync<StreamBufferFullException>(async () => await client.WriteAsync(new byte[64 * 1024]));
        Assert.That(client.IsClosed, Is.False);
        long expected = pending.Count * 60L * 1024;
        Assert.That(await server.ReadStreamingAsync(_ => { }, expected), Is.EqualTo(expected));
        await Task.WhenAll(pending);
    });

    [Test]
    public void Input_LineProtocol_ParsesWithoutCopying() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        for (int i = 0; i < 50; i++)
        {
            _ = server.WriteAsync(Bytes($"line {i}\n"));
        }

        var lines = new List<string>();
        System.IO.Pipelines.PipeReader input = client.Input;
        while (lines.Count < 50)
        {
            System.IO.Pipelines.ReadResult result = await input.ReadAsync();
            System.Buffers.ReadOnlySequence<byte> buffer = result.Buffer;
            while (buffer.PositionOf((byte)'\n') is { } end)
            {
                lines.Add(System.Text.Encoding.ASCII.GetString(buffer.Slice(0, end).ToArray()));
                buffer = buffer.Slice(buffer.GetPosition(1, end));
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }

        Assert.That(lines, Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"line {i}")));
        Assert.That(client.IsReading, Is.False);
        await server.WriteAsync(Bytes("after"));
        Assert.That(Text(await client.ReadBytesAsync(5)), Is.EqualTo("after"));
    });

    [Test]
    public void Output_WrittenAndFlushed_ArrivesAtThePeer() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        System.IO.Pipelines.PipeWriter output = client.Output;
        Span<byte> span = output.GetSpan(5);
        "hello"u8.CopyTo(span);
        output.Advance(5);
        Assert.That(output.UnflushedBytes, Is.EqualTo(5));
        await client.WriteAsync(Bytes(" world"));
        await output.FlushAsync();
        Assert.That(Text(await server.ReadBytesAsync(11)), Is.EqualTo("hello world"));
    });

    [Test]
    public void Close_FailsPendingWritesAndRunsTheCloseCallbackAfterThem() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        var order = new List<string>();
        var done = new TaskCompletionSource();
        client.SetCloseCallback(() =>
        {
            order.Add("close callback");
            done.SetResult();
        });
        Task write = client.WriteAsync(new byte[32 * 1024 * 1024]).AsTask();
        Task observed = write.ContinueWith(t => order.Add("write " + t.Exception!.InnerException!.GetType().Name), TaskContinuationOptions.ExecuteSynchronously);
        client.Close();
        await done.Task;
        await observed;
        Assert.That(order, Is.EqualTo(new[] { "write StreamClosedException", "close callback" }));
    });
}
