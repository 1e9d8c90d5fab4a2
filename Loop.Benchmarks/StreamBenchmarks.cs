using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// Loopback stream throughput and line-protocol message rate: Loop's IOStream against .NET's
/// NetworkStream (Socket.ReceiveAsync/SendAsync on the thread pool) in the same run. A peer
/// thread with a plain blocking socket sends or sinks the bytes, the same for both sides, so the
/// numbers compare only the side under test.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet runs a generated subclass.</remarks>
[MemoryDiagnoser]
public class StreamBenchmarks
{
    private const int Chunk = 64 * 1024;
    private const int TransferBytes = 32 * 1024 * 1024;
    private const int Lines = 20_000;
    private const int LineLength = 32;

    private readonly byte[] _chunk = new byte[Chunk];
    private readonly byte[] _lineBlock = MakeLines();
    private readonly byte[] _newline = "\n"u8.ToArray();
    private IOLoop _loop = null!;
    private IOStream _loopSide = null!;
    private Socket _loopPeer = null!;
    private NetworkStream _netSide = null!;
    private Socket _netPeer = null!;
    private PipeReader _netPipe = null!;
    private Peer _toLoop = null!;
    private Peer _toNet = null!;

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop();
        (Socket a, Socket b) = Connect();
        _loopSide = new IOStream(a, new IOStreamOptions { MaxBufferSize = 8 * 1024 * 1024 }, _loop);
        _loopPeer = b;
        (Socket c, Socket d) = Connect();
        _netSide = new NetworkStream(c, ownsSocket: true);
        _netPipe = PipeReader.Create(_netSide, new StreamPipeReaderOptions(bufferSize: Chunk, leaveOpen: true));
        _netPeer = d;
        _toLoop = new Peer(_loopPeer);
        _toNet = new Peer(_netPeer);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _toLoop.Dispose();
        _toNet.Dispose();
        _loopSide.Close();
        _loop.Close(allFds: true);
        _netSide.Dispose();
        _loopPeer.Dispose();
        _netPeer.Dispose();
    }

    /// <summary>Receive 32 MiB sent in 64 KiB writes: IOStream.ReadIntoAsync on the loop.</summary>
    [Benchmark(Description = "receive 32 MiB: IOStream")]
    public long ReceiveIOStream()
    {
        _toLoop.Send(_chunk, TransferBytes / Chunk);
        return _loop.RunSync(async () =>
        {
            long total = 0;
            while (total < TransferBytes)
            {
                total += await _loopSide.ReadIntoAsync(_chunk, partial: true);
            }

            return total;
        });
    }

    /// <summary>The same through NetworkStream.ReadAsync (Socket.ReceiveAsync, thread pool).</summary>
    [Benchmark(Baseline = true, Description = "receive 32 MiB: NetworkStream")]
    public long ReceiveNetworkStream()
    {
        _toNet.Send(_chunk, TransferBytes / Chunk);
        return ReceiveAsync().GetAwaiter().GetResult();

        async Task<long> ReceiveAsync()
        {
            long total = 0;
            var buffer = new byte[Chunk];
            while (total < TransferBytes)
            {
                total += await _netSide.ReadAsync(buffer).ConfigureAwait(false);
            }

            return total;
        }
    }

    /// <summary>Send 32 MiB in 64 KiB writes: IOStream.WriteAsync on the loop.</summary>
    [Benchmark(Description = "send 32 MiB: IOStream")]
    public void SendIOStream()
    {
        Task sunk = _toLoop.SinkAsync(TransferBytes);
        _loop.RunSync(async () =>
        {
            for (int i = 0; i < TransferBytes / Chunk; i++)
            {
                await _loopSide.WriteAsync(_chunk);
            }
        });
        sunk.GetAwaiter().GetResult();
    }

    /// <summary>The same through NetworkStream.WriteAsync.</summary>
    [Benchmark(Description = "send 32 MiB: NetworkStream")]
    public void SendNetworkStream()
    {
        Task sunk = _toNet.SinkAsync(TransferBytes);
        SendAsync().GetAwaiter().GetResult();
        sunk.GetAwaiter().GetResult();

        async Task SendAsync()
        {
            for (int i = 0; i < TransferBytes / Chunk; i++)
            {
                await _netSide.WriteAsync(_chunk).ConfigureAwait(false);
            }
        }
    }

    /// <summary>20,000 lines of 32 bytes, each read with ReadUntilAsync (one array per line).</summary>
    [Benchmark(OperationsPerInvoke = Lines, Description = "line: IOStream.ReadUntilAsync")]
    public int LinesReadUntil()
    {
        _toLoop.Send(_lineBlock, 1);
        return _loop.RunSync(async () =>
        {
            int bytes = 0;
            for (int i = 0; i < Lines; i++)
            {
                bytes += (await _loopSide.ReadUntilAsync(_newline)).Length;
            }

            return bytes;
        });
    }

    /// <summary>The same lines parsed from IOStream.Input without copying.</summary>
    [Benchmark(OperationsPerInvoke = Lines, Description = "line: IOStream.Input (PipeReader)")]
    public int LinesInput()
    {
        _toLoop.Send(_lineBlock, 1);
        return _loop.RunSync(() => CountLines(_loopSide.Input));
    }

    /// <summary>The same lines parsed from a PipeReader over NetworkStream (the .NET way).</summary>
    [Benchmark(OperationsPerInvoke = Lines, Description = "line: PipeReader over NetworkStream")]
    public int LinesNetworkPipe()
    {
        _toNet.Send(_lineBlock, 1);
        return Task.Run(() => CountLines(_netPipe)).GetAwaiter().GetResult();
    }

    private static async Task<int> CountLines(PipeReader reader)
    {
        int lines = 0;
        while (lines < Lines)
        {
            ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            while (lines < Lines && buffer.PositionOf((byte)'\n') is { } end)
            {
                lines++;
                buffer = buffer.Slice(buffer.GetPosition(1, end));
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        return lines;
    }

    private static byte[] MakeLines()
    {
        var block = new byte[Lines * LineLength];
        for (int i = 0; i < Lines; i++)
        {
            Span<byte> line = block.AsSpan(i * LineLength, LineLength);
            line.Fill((byte)'a');
            line[^1] = (byte)'\n';
        }

        return block;
    }

    private static (Socket, Socket) Connect()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        a.Connect(listener.LocalEndPoint!);
        Socket b = listener.Accept();
        a.NoDelay = true;
        b.NoDelay = true;
        return (a, b);
    }

    /// <summary>A thread with a blocking socket that sends or sinks on request.</summary>
    private sealed class Peer : IDisposable
    {
        private readonly Socket _socket;
        private readonly Thread _thread;
        private readonly SemaphoreSlim _work = new(0);
        private readonly byte[] _sink = new byte[Chunk];
        private byte[] _data = [];
        private int _repeat;
        private long _sinkBytes;
        private TaskCompletionSource? _sunk;
        private volatile bool _stop;

        public Peer(Socket socket)
        {
            _socket = socket;
            _thread = new Thread(Run) { IsBackground = true, Name = "benchmark peer" };
            _thread.Start();
        }

        public void Send(byte[] data, int repeat)
        {
            _data = data;
            _repeat = repeat;
            _sinkBytes = 0;
            _work.Release();
        }

        public Task SinkAsync(long bytes)
        {
            var sunk = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _sunk = sunk;
            _sinkBytes = bytes;
            _repeat = 0;
            _work.Release();
            return sunk.Task;
        }

        public void Dispose()
        {
            _stop = true;
            _work.Release();
            _thread.Join();
        }

        private void Run()
        {
            while (true)
            {
                _work.Wait();
                if (_stop)
                {
                    return;
                }

                for (int i = 0; i < _repeat; i++)
                {
                    _socket.Send(_data);
                }

                long remaining = _sinkBytes;
                while (remaining > 0)
                {
                    remaining -= _socket.Receive(_sink);
                }

                // Cleared before completing: the benchmark thread sets the next one as soon as this completes.
                TaskCompletionSource? sunk = _sunk;
                _sunk = null;
                sunk?.TrySetResult();
            }
        }
    }
}

/// <summary>
/// The request/response pattern of an HTTP/1 client, both ends on one loop: a 64-byte message
/// written through <see cref="IOStream.Output"/> (GetSpan, Advance, FlushAsync) and read through
/// <see cref="IOStream.Input"/> (ReadAsync, AdvanceTo), there and back. Per round trip: two sends,
/// two receives, poller waits, and the two reads that wait for their data.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet runs a generated subclass.</remarks>
[MemoryDiagnoser]
public class StreamRoundTripBenchmarks
{
    private const int RoundTrips = 10_000;
    private const int MessageLength = 64;

    private IOLoop _loop = null!;
    private IOStream _client = null!;
    private IOStream _server = null!;

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        a.Connect(listener.LocalEndPoint!);
        Socket b = listener.Accept();
        a.NoDelay = true;
        b.NoDelay = true;
        _client = new IOStream(a, loop: _loop);
        _server = new IOStream(b, loop: _loop);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Close();
        _server.Close();
        _loop.Close(allFds: true);
    }

    /// <summary>One round trip: Output on one side, Input on the other, and back (one state machine for all of them, so what is measured is the stream).</summary>
    [Benchmark(OperationsPerInvoke = RoundTrips, Description = "round trip 64 B: Output + Input")]
    public long RoundTrip() => _loop.RunSync(async () =>
    {
        long received = 0;
        PipeReader clientInput = _client.Input;
        PipeReader serverInput = _server.Input;
        for (int i = 0; i < RoundTrips; i++)
        {
            await Send(_client).ConfigureAwait(true);
            for (long got = 0; got < MessageLength;)
            {
                ReadResult result = await serverInput.ReadAsync().ConfigureAwait(true);
                got += result.Buffer.Length;
                serverInput.AdvanceTo(result.Buffer.End);
            }

            await Send(_server).ConfigureAwait(true);
            for (long got = 0; got < MessageLength;)
            {
                ReadResult result = await clientInput.ReadAsync().ConfigureAwait(true);
                got += result.Buffer.Length;
                clientInput.AdvanceTo(result.Buffer.End);
                received += result.Buffer.Length;
            }
        }

        return received;
    });

    private static ValueTask<FlushResult> Send(IOStream stream)
    {
        PipeWriter output = stream.Output;
        output.GetSpan(MessageLength)[..MessageLength].Fill((byte)'x');
        output.Advance(MessageLength);
        return output.FlushAsync();
    }
}
