using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// I/O dispatch: one byte bounced between two connected loopback TCP sockets through loop
/// handlers, 100,000 round trips per operation. Results read per round trip: two poller waits,
/// two handler dispatches, two receives and two sends. Most of the time is the kernel's.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet runs a generated subclass.</remarks>
[MemoryDiagnoser]
public class PingPongBenchmarks
{
    private const int RoundTrips = 100_000;

    private readonly byte[] _byte = new byte[1];
    private IOLoop _loop = null!;
    private Socket _left = null!;
    private Socket _right = null!;
    private IOHandler _onLeft = null!;
    private IOHandler _onRight = null!;
    private int _remaining;

    // The loop logs and swallows handler exceptions, which would leave the benchmark waiting
    // forever; a failed receive or send is recorded here, stops the loop, and is thrown after.
    private string? _failure;

    [Params(PollerBackend.Epoll, PollerBackend.Poll)]
    public PollerBackend Backend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop(new IOLoopOptions { Backend = Backend });
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _left = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _left.Connect(listener.LocalEndPoint!);
        _right = listener.Accept();

        // Without NoDelay, Nagle would hold each one-byte send for the peer's delayed ACK.
        _left.NoDelay = true;
        _right.NoDelay = true;
        _left.Blocking = false;
        _right.Blocking = false;

        // Created once: dispatching to a cached delegate allocates nothing.
        _onLeft = (_, _) => Bounce(_left);
        _onRight = (_, _) => Bounce(_right);
        _loop.AddHandler(_left, _onLeft, IOEvents.Read);
        _loop.AddHandler(_right, _onRight, IOEvents.Read);
    }

    [GlobalCleanup]
    public void Cleanup() => _loop.Close(allFds: true);

    [Benchmark(OperationsPerInvoke = RoundTrips)]
    public int PingPong()
    {
        // Each round trip is two handler calls; the last one stops the loop instead of replying.
        _remaining = RoundTrips * 2;
        Send(_left);
        _loop.Start();
        if (_failure is not null)
        {
            throw new InvalidOperationException(_failure);
        }

        return _remaining;
    }

    private void Bounce(Socket socket)
    {
        int n = socket.Receive(_byte.AsSpan(), SocketFlags.None, out SocketError error);
        if (n != 1 || error != SocketError.Success)
        {
            Fail($"Receive returned {n} ({error}).");
            return;
        }

        if (--_remaining == 0)
        {
            _loop.Stop();
            return;
        }

        Send(socket);
    }

    private void Send(Socket socket)
    {
        int n = socket.Send(_byte.AsSpan(), SocketFlags.None, out SocketError error);
        if (n != 1 || error != SocketError.Success)
        {
            Fail($"Send returned {n} ({error}).");
        }
    }

    private void Fail(string failure)
    {
        _failure ??= failure;
        _loop.Stop();
    }
}
