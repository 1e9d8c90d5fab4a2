using System.Buffers;
using System.IO.Pipelines;
using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>What an open, idle stream keeps in memory once its reads and writes are done.</summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.NativePlainStreams))]
public sealed class StreamMemoryTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    private const int Pairs = 64;

    [Test]
    public void IdleStreams_AfterAnExchange_HoldNoBuffers() => Run(async () =>
    {
        // 64 KiB read chunks, as in Release builds: a receive segment kept by an idle stream
        // would show as 64 KiB, a kept write array as 4 KiB.
        var options = new IOStreamOptions { ReadChunkSize = 64 * 1024 };
        byte[] request = new byte[4096];
        byte[] response = new byte[13];

        // One exchange first, so that what is created once per process (pools, statics) is in place.
        await ExchangeAsync(await MakePairAsync(options, options), request, response);

        // The heap is shared with whatever else the process runs (servers and threads of other
        // tests), which can only add to a measurement: the best of a few attempts is the stream's.
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 3 && best >= Limit; attempt++)
        {
            best = Math.Min(best, await MeasureIdlePairAsync(options, request, response));
        }

        // Two streams with their sockets, pipes and completions are about 4 KiB; any buffer kept
        // (the 4 KiB write array, the 4 KiB array the last read returned, a 64 KiB receive
        // segment) takes a pair past the limit.
        Assert.That(best, Is.LessThan(Limit), $"{best} bytes per idle pair");
    });

    private const long Limit = 6 * 1024;

    private async Task<long> MeasureIdlePairAsync(IOStreamOptions options, byte[] request, byte[] response)
    {
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var pairs = new List<(global::Loop.IOStream Client, global::Loop.IOStream Server)>();
        for (int i = 0; i < Pairs; i++)
        {
            (global::Loop.IOStream client, global::Loop.IOStream server) pair = await MakePairAsync(options, options);
            await ExchangeAsync(pair, request, response);
            pairs.Add(pair);
        }

        long after = GC.GetTotalMemory(forceFullCollection: true);
        long perPair = (after - before) / Pairs;
        TestContext.Out.WriteLine($"{perPair} bytes per idle pair of streams (two streams, two sockets)");
        Assert.That(pairs.TrueForAll(p => !p.Client.IsClosed && !p.Server.IsClosed && p.Client.BufferedByteCount == 0), Is.True);
        foreach ((global::Loop.IOStream client, global::Loop.IOStream server) in pairs)
        {
            client.Close();
            server.Close();
        }

        return perPair;
    }

    private static async Task ExchangeAsync((global::Loop.IOStream Client, global::Loop.IOStream Server) pair, byte[] request, byte[] response)
    {
        PipeWriter output = pair.Client.Output;
        request.CopyTo(output.GetSpan(request.Length));
        output.Advance(request.Length);
        await output.FlushAsync();
        Assert.That(await pair.Server.ReadBytesAsync(request.Length), Has.Length.EqualTo(request.Length));
        await pair.Server.WriteAsync(response);
        long received = 0;
        while (received < response.Length)
        {
            ReadResult result = await pair.Client.Input.ReadAsync();
            received += result.Buffer.Length;
            pair.Client.Input.AdvanceTo(result.Buffer.End);
        }
    }
}
