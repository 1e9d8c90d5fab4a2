using System.Runtime.Versioning;
using Loop.Polling;
using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// The IOCP backend's own bookkeeping, which the loop cannot see: a pending AFD poll is kept
/// when a narrower interest is asked for and cancelled when a wider one is, a removed socket's
/// native block lives until its cancelled poll has come back, sockets are spread over AFD
/// handles, and Dispose drains what is still in flight. The poller is driven directly, as the
/// loop drives it, and every wait in them is bounded. Windows only (they call AFD); the
/// AFD-to-IOEvents mapping is checked on every OS.
/// </summary>
[TestFixture]
public sealed class AfdPollerTests
{
    private const ulong Token = 0x1234_0000_0007;

    [TestCase(AfdEvents.Receive, IOEvents.Read)]
    [TestCase(AfdEvents.Accept, IOEvents.Read)]
    [TestCase(AfdEvents.ReceiveExpedited, IOEvents.Read)]
    [TestCase(AfdEvents.Disconnect, IOEvents.Read)]
    [TestCase(AfdEvents.Send, IOEvents.Write)]
    [TestCase(AfdEvents.Receive | AfdEvents.Send, IOEvents.Read | IOEvents.Write)]
    [TestCase(AfdEvents.Abort, IOEvents.Read | IOEvents.Write | IOEvents.Error)]
    [TestCase(AfdEvents.ConnectFail, IOEvents.Read | IOEvents.Write | IOEvents.Error)]
    [TestCase(0u, IOEvents.None)]
    public void ToIOEvents_AfdBits_MapAsWepollAndMioDo(uint afd, IOEvents expected) =>
        Assert.That(AfdEvents.ToIOEvents(afd), Is.EqualTo(expected));

    [TestCase(IOEvents.None, AfdEvents.AlwaysWatched)]
    [TestCase(IOEvents.Read, AfdEvents.AlwaysWatched | AfdEvents.Receive | AfdEvents.Accept | AfdEvents.Disconnect)]
    [TestCase(IOEvents.Write, AfdEvents.AlwaysWatched | AfdEvents.Send)]
    [TestCase(IOEvents.Read | IOEvents.Write, AfdEvents.AlwaysWatched | AfdEvents.Receive | AfdEvents.Accept | AfdEvents.Disconnect | AfdEvents.Send)]
    public void ForInterest_AlwaysWatchesCloseAndErrors(IOEvents interest, uint expected) =>
        Assert.That(AfdEvents.ForInterest(interest), Is.EqualTo(expected));

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Modify_NarrowerInterest_KeepsThePendingPoll_WiderCancelsAndResubmits()
    {
        using SocketPair pair = SocketPair.Create();
        using var poller = new AfdPoller(16);
        Span<PollerEvent> events = new PollerEvent[16];
        int fd = (int)pair.Left.Handle;
        poller.Add(fd, IOEvents.Read, Token);
        Assert.That(poller.Wait(events, 0), Is.Zero);
        Assert.That(poller.OutstandingCount, Is.EqualTo(1), "the Read poll is in the kernel");

        poller.Modify(fd, IOEvents.None, Token);
        Assert.That(poller.Wait(events, 0), Is.Zero);
        Assert.That(poller.CancelCount, Is.Zero, "a narrower interest is covered by the pending poll");

        poller.Modify(fd, IOEvents.Read | IOEvents.Write, Token);
        int count = WaitForEvents(poller, events);
        Assert.That(poller.CancelCount, Is.EqualTo(1), "a wider interest cancels the pending poll");
        Assert.That(count, Is.EqualTo(1));
        Assert.That(events[0].Token, Is.EqualTo(Token));
        Assert.That(events[0].Events, Is.EqualTo(IOEvents.Write));
        poller.Remove(fd);
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Wait_EventDeliveredAndStillTrue_IsReportedAgainAfterTheRearm()
    {
        using SocketPair pair = SocketPair.Create();
        using var poller = new AfdPoller(16);
        Span<PollerEvent> events = new PollerEvent[16];
        int fd = (int)pair.Left.Handle;
        poller.Add(fd, IOEvents.Read, Token);
        pair.Right.Send("x"u8);
        for (int round = 0; round < 3; round++)
        {
            Assert.That(WaitForEvents(poller, events), Is.EqualTo(1), $"round {round}");
            Assert.That(events[0].Events, Is.EqualTo(IOEvents.Read));
        }

        poller.Remove(fd);
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Remove_WithPollPending_FreesTheBlockOnlyWhenTheCancelledPollComesBack()
    {
        SocketPair pair = SocketPair.Create();
        using var poller = new AfdPoller(16);
        Span<PollerEvent> events = new PollerEvent[16];
        int fd = (int)pair.Left.Handle;
        poller.Add(fd, IOEvents.Read, Token);
        Assert.That(poller.Wait(events, 0), Is.Zero);
        poller.Remove(fd);
        Assert.That(poller.RegisteredCount, Is.Zero);
        Assert.That(poller.BlockCount, Is.EqualTo(1), "freed while the kernel may still write it");

        // The socket closes while its cancelled poll may still be out: nothing is reported.
        pair.Dispose();
        WaitQuietlyUntil(poller, () => poller.BlockCount == 0);

        Assert.That(poller.BlockCount, Is.Zero);
        Assert.That(poller.OutstandingCount, Is.Zero);
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void SocketClosedWhileRegistered_IsSilencedUntilRemoved()
    {
        SocketPair pair = SocketPair.Create();
        using var poller = new AfdPoller(16);
        Span<PollerEvent> events = new PollerEvent[16];
        int fd = (int)pair.Left.Handle;
        poller.Add(fd, IOEvents.Read, Token);
        Assert.That(poller.Wait(events, 0), Is.Zero);
        pair.Dispose();

        // AFD completes the poll with AFD_POLL_LOCAL_CLOSE: not an event, and not re-armed.
        WaitQuietlyUntil(poller, () => poller.OutstandingCount == 0);

        Assert.That(poller.OutstandingCount, Is.Zero);
        Assert.That(poller.Wait(events, 0), Is.Zero);
        Assert.That(poller.RegisteredCount, Is.EqualTo(1));
        poller.Remove(fd);
        Assert.That(poller.BlockCount, Is.Zero);
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Add_ManySockets_SpreadsThemOverAfdHandlesOf32()
    {
        var pairs = Enumerable.Range(0, 70).Select(_ => SocketPair.Create()).ToList();
        try
        {
            using var poller = new AfdPoller(16);
            pairs.ForEach(p => poller.Add((int)p.Left.Handle, IOEvents.Read, Token));
            Assert.That(poller.AfdHandleCount, Is.EqualTo(3));
            pairs.ForEach(p => poller.Remove((int)p.Left.Handle));
            WaitQuietlyUntil(poller, () => poller.BlockCount == 0);

            Assert.That(poller.BlockCount, Is.Zero, "every cancelled poll came back and freed its block");
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Dispose_WithPollsPending_DrainsThemAndFreesEveryBlock()
    {
        var pairs = Enumerable.Range(0, 5).Select(_ => SocketPair.Create()).ToList();
        try
        {
            var poller = new AfdPoller(16);
            Span<PollerEvent> events = new PollerEvent[16];
            pairs.ForEach(p => poller.Add((int)p.Left.Handle, IOEvents.Read, Token));
            Assert.That(poller.Wait(events, 0), Is.Zero);
            Assert.That(poller.OutstandingCount, Is.EqualTo(5));
            poller.Dispose();
            Assert.That(poller.OutstandingCount, Is.Zero);
            Assert.That(poller.BlockCount, Is.Zero);
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    [Test]
    [Platform(Include = "Win", Reason = "Drives AFD poll requests, which exist on Windows only")]
    [SupportedOSPlatform("windows")]
    public void Waker_WakeFromAnotherThreadWhileBlocked_ReturnsTheWakerToken()
    {
        using var poller = new AfdPoller(16);
        const ulong wakerToken = ulong.MaxValue;
        IWaker waker = poller.CreateWaker(wakerToken);
        var events = new PollerEvent[16];
        using var blocked = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            blocked.Wait(5000);
            waker.Wake();
            waker.Wake();
        });
        other.Start();
        blocked.Set();
        int count = poller.Wait(events, 5000);
        Assert.That(other.Join(5000), Is.True);
        Assert.That(count, Is.EqualTo(1), "two wakes before a drain post one packet");
        Assert.That(events[0].Token, Is.EqualTo(wakerToken));
        waker.Drain();
        Assert.That(poller.Wait(events, 0), Is.Zero);
        waker.Dispose();
    }

    /// <summary>
    /// Waits on the poller until <paramref name="settled"/> holds (5 s at most), each wait
    /// consuming only cancellations and closes: nothing may be reported as an event meanwhile.
    /// </summary>
    [SupportedOSPlatform("windows")]
    private static void WaitQuietlyUntil(AfdPoller poller, Func<bool> settled)
    {
        var events = new PollerEvent[16];
        long deadline = Environment.TickCount64 + 5000;
        while (!settled() && Environment.TickCount64 < deadline)
        {
            Assert.That(poller.Wait(events, 100), Is.LessThanOrEqualTo(0));
        }
    }

    /// <summary>Waits until the poller reports something (a -1 is a wait that only consumed cancellations).</summary>
    [SupportedOSPlatform("windows")]
    private static int WaitForEvents(AfdPoller poller, Span<PollerEvent> events)
    {
        long deadline = Environment.TickCount64 + 5000;
        while (Environment.TickCount64 < deadline)
        {
            int count = poller.Wait(events, 1000);
            if (count > 0)
            {
                return count;
            }
        }

        return 0;
    }
}
