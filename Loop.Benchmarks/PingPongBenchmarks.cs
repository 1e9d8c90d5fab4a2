using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Loop.Benchmarks;

/// <summary>
/// I/O dispatch: one byte bounced between two connected loopback sockets through loop
/// handlers, 100,000 round trips per operation. Results read per round trip (two dispatches,
/// two sends, two receives); most of the time is the kernel's loopback TCP.
/// </summary>
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

    [Params(PollerBackend.Epoll, PollerBackend.Poll)]
    public PollerBackend Backend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new IOLoop(new IOLoopOptions { Backend = Backend });
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _left = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _left.Connect(listener.LocalEndPoint!);
        _right = listener.Accept();
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
    public void Cleanup()
    {
        _loop.Close(allFds: true);
    }

    [Benchmark(OperationsPerInvoke = RoundTrips)]
    public int PingPong()
    {
        _remaining = RoundTrips * 2;
        _left.Send(_byte.AsSpan(), SocketFlags.None, out _);
        _loop.Start();
        return _remaining;
    }

    private void Bounce(Socket socket)
    {
        int n = socket.Receive(_byte.AsSpan(), SocketFlags.None, out SocketError error);
        if (n != 1 || error != SocketError.Success)
        {
            throw new InvalidOperationException($"receive returned {n} ({error})");
        }

        if (--_remaining == 0)
        {
            _loop.Stop();
            return;
        }

        socket.Send(_byte.AsSpan(), SocketFlags.None, out _);
    }
}
