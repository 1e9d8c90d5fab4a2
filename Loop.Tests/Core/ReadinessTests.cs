using System.Net;
using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// What every backend must report the same way, written for the IOCP backend (whose AFD polls
/// are one-shot and must be re-armed, cancelled and resubmitted to behave like the others) and
/// run on each backend of the OS: level-triggered delivery, interest changes both ways, removal
/// with a poll in flight, many sockets at once, a reset from the peer and a refused connect.
/// </summary>
public sealed class ReadinessTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void Handler_DataLeftUnread_IsCalledAgainOnEveryTick()
    {
        using SocketPair pair = SocketPair.Create();
        int calls = 0;
        Loop.AddHandler(pair.Left, (_, _) => calls++, IOEvents.Read);
        pair.Right.Send("x"u8);
        TickUntil(() => calls >= 5);

        // Consumed: no more calls, however many ticks follow.
        Span<byte> buffer = stackalloc byte[8];
        Assert.That(pair.Left.Receive(buffer), Is.EqualTo(1));
        Loop.RunOnce(TimeSpan.Zero);
        int after = calls;
        Loop.RunOnce(TimeSpan.FromMilliseconds(50));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(calls, Is.EqualTo(after), "called again after the data was read");
        Loop.RemoveHandler(pair.Left);
    }

    [Test]
    public void UpdateHandler_WidenedWhileWaitingForRead_DeliversWriteAtOnce()
    {
        using SocketPair pair = SocketPair.Create();
        var seen = new List<IOEvents>();
        Loop.AddHandler(pair.Left, (_, events) => seen.Add(events), IOEvents.Read);

        // Nothing to read: the backend is now waiting for Read only.
        Loop.RunOnce(TimeSpan.FromMilliseconds(20));
        Assert.That(seen, Is.Empty);

        Loop.UpdateHandler(pair.Left, IOEvents.Read | IOEvents.Write);
        TickUntil(() => seen.Count > 0);
        Assert.That(seen, Is.EqualTo(new[] { IOEvents.Write }));
        Loop.RemoveHandler(pair.Left);
    }

    [Test]
    public void UpdateHandler_NarrowedFromReadWriteToRead_StopsWriteAndStillDeliversRead()
    {
        using SocketPair pair = SocketPair.Create();
        var seen = new List<IOEvents>();
        Loop.AddHandler(pair.Left, (_, events) => seen.Add(events), IOEvents.Read | IOEvents.Write);
        TickUntil(() => seen.Count > 0);
        Assert.That(seen, Is.EqualTo(new[] { IOEvents.Write }));

        seen.Clear();
        Loop.UpdateHandler(pair.Left, IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromMilliseconds(20));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(seen, Is.Empty, "writable reported after Write was no longer asked for");

        pair.Right.Send("x"u8);
        TickUntil(() => seen.Count > 0);
        Assert.That(seen, Is.EqualTo(new[] { IOEvents.Read }));
        Loop.RemoveHandler(pair.Left);
    }

    [Test]
    public void RemoveHandler_WhileWaitingThenSocketClosed_NothingIsDeliveredAndTheNumberCanBeRegisteredAgain()
    {
        SocketPair pair = SocketPair.Create();
        int calls = 0;
        Loop.AddHandler(pair.Left, (_, _) => calls++, IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromMilliseconds(20));
        Loop.RemoveHandler(pair.Left);
        pair.Right.Send("x"u8);
        pair.Dispose();
        Loop.RunOnce(TimeSpan.FromMilliseconds(50));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(calls, Is.Zero);

        // A new socket (which may get the same number) registers and works normally.
        using SocketPair next = SocketPair.Create();
        bool read = false;
        Loop.AddHandler(next.Left, (fd, _) =>
        {
            read = true;
            Loop.RemoveHandler(fd);
        }, IOEvents.Read);
        next.Right.Send("y"u8);
        TickUntil(() => read);
        Assert.That(Loop.HandlerCount, Is.Zero);
    }

    [Test]
    public void ManySockets_AllReadable_EveryHandlerIsCalled()
    {
        // More than one AFD handle's worth (32 sockets each) on the IOCP backend, and more than
        // the debug event buffer (32) on every backend.
        const int count = 100;
        var pairs = new List<SocketPair>();
        try
        {
            var served = new HashSet<int>();
            for (int i = 0; i < count; i++)
            {
                SocketPair pair = SocketPair.Create();
                pairs.Add(pair);
                Loop.AddHandler(pair.Left, (fd, events) =>
                {
                    Assert.That(events, Is.EqualTo(IOEvents.Read));
                    served.Add(fd);
                    Loop.RemoveHandler(fd);
                }, IOEvents.Read);
            }

            pairs.ForEach(p => p.Right.Send("x"u8));
            TickUntil(() => served.Count == count);
            Assert.That(served, Has.Count.EqualTo(count));
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    [Test]
    public void Handler_PeerResetsTheConnection_GetsReadAndErrorAndReceiveReportsTheReset()
    {
        using SocketPair pair = SocketPair.Create();
        IOEvents seen = IOEvents.None;
        SocketError received = SocketError.Success;
        int count = -1;
        Loop.AddHandler(pair.Left, (fd, events) =>
        {
            seen = events;
            count = pair.Left.Receive(new byte[8], SocketFlags.None, out received);
            Loop.RemoveHandler(fd);
        }, IOEvents.Read);

        // A zero linger turns the close into a reset (RST) instead of a graceful FIN.
        pair.Right.LingerState = new LingerOption(true, 0);
        pair.Right.Close();
        TickUntil(() => seen != IOEvents.None);
        Assert.That(seen & IOEvents.Read, Is.EqualTo(IOEvents.Read), $"events {seen}");
        Assert.That(seen, Is.EqualTo(IOEvents.Read | IOEvents.Error).Or.EqualTo(IOEvents.Read), $"events {seen}");
        if (Wine.IsRunning && received == SocketError.Success && count == 0)
        {
            // Measured under Wine 8: closing a socket with a zero linger sends FIN, not RST, so
            // the peer reads an orderly end of stream. Windows and Linux send a reset.
            Assert.Ignore("Wine closes a zero-linger socket gracefully (the peer reads end of stream), so there is no reset to report");
        }

        Assert.That(received, Is.EqualTo(SocketError.ConnectionReset), $"received {count} bytes");
    }

    [Test]
    public void Handler_ConnectRefused_GetsWriteAndErrorWithTheRefusalInSoError()
    {
        int closedPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closedPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        SocketError started = SocketError.Success;
        try
        {
            socket.Connect(new IPEndPoint(IPAddress.Loopback, closedPort));
        }
        catch (SocketException e)
        {
            started = e.SocketErrorCode;
        }

        // A kernel may refuse a loopback connect inside connect() itself (neither Linux nor Wine
        // did here: both report it through the poller); then no refusal reaches the poller and
        // there is nothing to test (the connector's own tests cover a refusal however it comes).
        if (started == SocketError.ConnectionRefused)
        {
            Assert.Ignore("the kernel refused the connect inside connect(); no refusal reaches the poller to be reported");
        }

        Assert.That(started, Is.EqualTo(SocketError.WouldBlock).Or.EqualTo(SocketError.InProgress));
        IOEvents seen = IOEvents.None;
        Loop.AddHandler(socket, (fd, events) =>
        {
            seen = events;
            Loop.RemoveHandler(fd);
        }, IOEvents.Write);

        // Windows retries a refused SYN for about two seconds before it gives up.
        TickUntil(() => seen != IOEvents.None);
        Assert.That(seen & IOEvents.Error, Is.EqualTo(IOEvents.Error), $"events {seen}");
        var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        Assert.That(error, Is.EqualTo(SocketError.ConnectionRefused));
    }

    /// <summary>Ticks the loop on the test thread until <paramref name="done"/> holds; fails after the test timeout.</summary>
    private void TickUntil(Func<bool> done)
    {
        long deadline = Environment.TickCount64 + (long)TestTimeout.TotalMilliseconds;
        while (!done())
        {
            Assert.That(Environment.TickCount64, Is.LessThan(deadline), "the awaited event did not come");
            Loop.RunOnce(TimeSpan.FromMilliseconds(100));
        }
    }
}
