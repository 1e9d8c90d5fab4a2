using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>Steady-state allocation, measured with the thread's own allocation counter.</summary>
public sealed class IOLoopAllocationTests(PollerBackend backend) : LoopFixture(backend)
{
    private static readonly Action<object?> s_count = static s => ((Counter)s!).Value++;

    [Test]
    public void AddCallbackWithState_SteadyState_AllocatesNothing()
    {
        var counter = new Counter();
        void Cycle()
        {
            for (int i = 0; i < 1000; i++)
            {
                Loop.AddCallback(s_count, counter);
            }

            Loop.RunOnce(TimeSpan.Zero);
        }

        // Warm up: queues grow to size, code is jitted.
        for (int i = 0; i < 20; i++)
        {
            Cycle();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Cycle();
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(counter.Value, Is.EqualTo(120_000));
        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 100,000 callbacks");
    }

    [Test]
    public void AddCallbackFromLoopThread_SteadyState_AllocatesNothing()
    {
        var counter = new Counter();
        Action<object?> addMore = null!;
        addMore = s =>
        {
            for (int i = 0; i < 1000; i++)
            {
                Loop.AddCallback(s_count, counter);
            }
        };
        for (int i = 0; i < 20; i++)
        {
            Loop.AddCallback(addMore, null);
            Loop.RunOnce(TimeSpan.Zero);
            Loop.RunOnce(TimeSpan.Zero);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Loop.AddCallback(addMore, null);
            Loop.RunOnce(TimeSpan.Zero);
            Loop.RunOnce(TimeSpan.Zero);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(counter.Value, Is.EqualTo(120_000));
        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 100,000 loop-thread callbacks");
    }

    [Test]
    public void IODispatch_SteadyState_AllocatesNothing()
    {
        using SocketPair pair = SocketPair.Create();
        var pingPong = new PingPong(Loop, pair);
        pingPong.Register();
        pingPong.Run(1000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        pingPong.Run(10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        pingPong.Unregister();
        Assert.That(pingPong.Dispatches, Is.EqualTo(2 * 11_000));
        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 20,000 I/O dispatches");
    }

    [Test]
    public void TimerScheduledAndFired_SteadyState_AllocatesNothing()
    {
        const int count = 10_000;
        var counter = new Counter();
        void Cycle()
        {
            for (int i = 0; i < count; i++)
            {
                Loop.CallLater(TimeSpan.Zero, s_count, counter);
            }

            Loop.RunOnce(TimeSpan.Zero);
        }

        Cycle();
        Cycle();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Cycle();
        Cycle();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(counter.Value, Is.EqualTo(4 * count));
        Assert.That(allocated, Is.Zero, $"{allocated} bytes for {2 * count} timers");
    }

    [Test]
    public void TimerScheduledAndRemoved_SteadyState_AllocatesNothing()
    {
        void Cycle()
        {
            for (int i = 0; i < 2000; i++)
            {
                Loop.RemoveTimeout(Loop.CallLater(TimeSpan.FromHours(1), s_count, null));
            }

            Loop.RunOnce(TimeSpan.Zero);
        }

        Cycle();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Cycle();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, $"{allocated} bytes for 2000 timers scheduled and removed");
        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
    }

    private sealed class Counter
    {
        public int Value;
    }

    /// <summary>One byte bounced between two sockets through loop handlers (cached delegates).</summary>
    private sealed class PingPong
    {
        private readonly IOLoop _loop;
        private readonly SocketPair _pair;
        private readonly IOHandler _onLeft;
        private readonly IOHandler _onRight;
        private readonly byte[] _buffer = new byte[1];
        private int _remaining;

        public PingPong(IOLoop loop, SocketPair pair)
        {
            _loop = loop;
            _pair = pair;
            _onLeft = (_, _) => Bounce(_pair.Left, _pair.Left);
            _onRight = (_, _) => Bounce(_pair.Right, _pair.Right);
        }

        public int Dispatches { get; private set; }

        public void Register()
        {
            _loop.AddHandler(_pair.Left, _onLeft, IOEvents.Read);
            _loop.AddHandler(_pair.Right, _onRight, IOEvents.Read);
        }

        public void Unregister()
        {
            _loop.RemoveHandler(_pair.Left);
            _loop.RemoveHandler(_pair.Right);
        }

        public void Run(int roundTrips)
        {
            _remaining = roundTrips * 2;
            _pair.Left.Send(_buffer.AsSpan(), SocketFlags.None, out _);
            while (_remaining > 0)
            {
                _loop.RunOnce(TimeSpan.FromSeconds(5));
            }
        }

        private void Bounce(Socket from, Socket to)
        {
            Dispatches++;
            int n = from.Receive(_buffer.AsSpan(), SocketFlags.None, out SocketError error);
            if (n != 1 || error != SocketError.Success)
            {
                throw new InvalidOperationException($"receive returned {n}, {error}");
            }

            if (--_remaining > 0)
            {
                to.Send(_buffer.AsSpan(), SocketFlags.None, out _);
            }
        }
    }
}
