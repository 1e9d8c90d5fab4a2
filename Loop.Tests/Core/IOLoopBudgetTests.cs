using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// RunOnce with a TickBudget: a tick stops taking work once the budget is spent, leaves the
/// rest for the next tick in order, starves no phase, and says there is work left.
/// </summary>
public sealed class IOLoopBudgetTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void RunOnce_WithCallbackBudget_RunsThatManyPerTickInOrderAndNewOnesAfterTheLeftOvers()
    {
        var ran = new List<int>();
        for (int i = 0; i < 7; i++)
        {
            int n = i;
            Loop.AddCallback(() =>
            {
                ran.Add(n);
                if (n == 0)
                {
                    // Added during the first tick: it runs after every callback queued before it.
                    Loop.AddCallback(() => ran.Add(100));
                }
            });
        }

        var budget = new TickBudget { MaxCallbacks = 3 };
        var perTick = new List<int>();
        for (int tick = 0; tick < 10 && Loop.PendingCallbackCount > 0; tick++)
        {
            int before = ran.Count;
            Loop.RunOnce(TimeSpan.Zero, budget);
            perTick.Add(ran.Count - before);
            if (tick == 0)
            {
                Assert.That(Loop.PendingCallbackCount, Is.EqualTo(5), "four left over and one added");
                Assert.That(Loop.BackendTimeout, Is.EqualTo(TimeSpan.Zero), "work is left over");
            }
        }

        Assert.That(ran, Is.EqualTo(new[] { 0, 1, 2, 3, 4, 5, 6, 100 }));
        Assert.That(perTick, Is.EqualTo(new[] { 3, 3, 2 }));
    }

    [Test]
    public void RunOnce_WithCallbackBudget_DueTimersShareItAndRunInDeadlineOrder()
    {
        var fired = new List<int>();
        double past = Loop.Time() - 1;
        for (int i = 4; i >= 0; i--)
        {
            int n = i;
            Loop.CallAt(past + (n * 0.001), () => fired.Add(n));
        }

        var budget = new TickBudget { MaxCallbacks = 2 };
        Loop.RunOnce(TimeSpan.Zero, budget);
        Assert.That(fired, Is.EqualTo(new[] { 0, 1 }));
        Assert.That(Loop.PendingTimeoutCount, Is.EqualTo(3));
        Assert.That(Loop.BackendTimeout, Is.EqualTo(TimeSpan.Zero), "the timers left are due");
        Loop.RunOnce(TimeSpan.Zero, budget);
        Loop.RunOnce(TimeSpan.Zero, budget);
        Assert.That(fired, Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
    }

    [Test]
    public void RunOnce_WithHandlerBudget_CallsThatManyReadyHandlersPerTickAndTheRestNext()
    {
        const int Sockets = 6;
        var pairs = new List<SocketPair>();
        var calls = new int[Sockets];
        try
        {
            for (int i = 0; i < Sockets; i++)
            {
                SocketPair pair = SocketPair.Create();
                pairs.Add(pair);
                int index = i;
                Loop.AddHandler(pair.Left, (fd, _) =>
                {
                    calls[index]++;
                    Span<byte> buffer = stackalloc byte[8];
                    pair.Left.Receive(buffer);
                    Loop.RemoveHandler(fd);
                }, IOEvents.Read);
                pair.Right.Send("x"u8);
            }

            WaitUntilAllReadable(pairs);
            var budget = new TickBudget { MaxHandlers = 2 };
            var perTick = new List<int>();
            for (int tick = 0; tick < 10 && Loop.HandlerCount > 0; tick++)
            {
                int before = calls.Sum();
                bool more = Loop.RunOnce(TimeSpan.Zero, budget);
                perTick.Add(calls.Sum() - before);
                if (tick == 0)
                {
                    Assert.That(more, Is.True);
                    Assert.That(Loop.BackendTimeout, Is.EqualTo(TimeSpan.Zero), "ready handlers are left over");
                }
            }

            Assert.That(calls, Is.All.EqualTo(1), "every handler ran exactly once");
            Assert.That(perTick, Is.EqualTo(new[] { 2, 2, 2 }));
        }
        finally
        {
            foreach (SocketPair pair in pairs)
            {
                Loop.RemoveHandler(pair.Left);
                pair.Dispose();
            }
        }
    }

    [Test]
    public void RunOnce_WithZeroTimeSlice_StillRunsOneCallbackOneTimerAndOneHandlerEachTick()
    {
        using SocketPair pair = SocketPair.Create();
        int callbacks = 0, timers = 0, handlerCalls = 0;
        for (int i = 0; i < 3; i++)
        {
            Loop.AddCallback(() => callbacks++);
            Loop.CallAt(Loop.Time() - 1, () => timers++);
        }

        Loop.AddHandler(pair.Left, (_, _) => handlerCalls++, IOEvents.Read);
        try
        {
            pair.Right.Send("x"u8);
            WaitUntilAllReadable([pair]);
            var budget = TickBudget.FromTimeSlice(TimeSpan.Zero);
            for (int tick = 1; tick <= 3; tick++)
            {
                Loop.RunOnce(TimeSpan.Zero, budget);
                Assert.That((callbacks, timers, handlerCalls), Is.EqualTo((tick, tick, tick)), $"tick {tick}: one of each, none starved");
            }
        }
        finally
        {
            Loop.RemoveHandler(pair.Left);
        }
    }

    [Test]
    public void RunOnce_LeftOverEventOfHandlerRemovedBetweenTicks_IsNotDelivered()
    {
        using SocketPair first = SocketPair.Create();
        using SocketPair second = SocketPair.Create();
        int firstCalls = 0, secondCalls = 0;
        Loop.AddHandler(first.Left, (_, _) => firstCalls++, IOEvents.Read);
        Loop.AddHandler(second.Left, (_, _) => secondCalls++, IOEvents.Read);
        first.Right.Send("x"u8);
        second.Right.Send("x"u8);
        WaitUntilAllReadable([first, second]);

        Loop.RunOnce(TimeSpan.Zero, new TickBudget { MaxHandlers = 1 });
        Assert.That(firstCalls + secondCalls, Is.EqualTo(1));

        // The host removes both between ticks: the event fetched for the other must not reach it.
        Loop.RemoveHandler(first.Left);
        Loop.RemoveHandler(second.Left);
        Loop.RunOnce(TimeSpan.Zero, new TickBudget { MaxHandlers = 1 });
        Assert.That(firstCalls + secondCalls, Is.EqualTo(1));
        Assert.That(Loop.BackendTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan), "nothing is left over");
    }

    [Test]
    public void Start_AfterBudgetedTickLeftWork_RunsTheLeftOversFirst()
    {
        var ran = new List<string>();
        Loop.AddCallback(() => ran.Add("a"));
        Loop.AddCallback(() => ran.Add("b"));
        Loop.AddCallback(() => ran.Add("c"));
        Loop.RunOnce(TimeSpan.Zero, new TickBudget { MaxCallbacks = 1 });
        Loop.DetachCurrentThread();
        Loop.AddCallback(() =>
        {
            ran.Add("d");
            Loop.Stop();
        });
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(ran, Is.EqualTo(new[] { "a", "b", "c", "d" }));
    }

    [Test]
    public void TickBudget_NegativeValues_AreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TickBudget { TimeSlice = TimeSpan.FromMilliseconds(-1) });
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TickBudget { MaxCallbacks = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TickBudget { MaxHandlers = -1 });
        Assert.That(TickBudget.Unlimited.IsUnlimited, Is.True);
        Assert.That(TickBudget.FromTimeSlice(TimeSpan.FromMilliseconds(2)).IsUnlimited, Is.False);
    }

    /// <summary>Blocks (the test thread, not a loop) until every pair's left socket has data.</summary>
    private static void WaitUntilAllReadable(IEnumerable<SocketPair> pairs)
    {
        foreach (SocketPair pair in pairs)
        {
            Assert.That(pair.Left.Poll(TestTimeout, System.Net.Sockets.SelectMode.SelectRead), Is.True);
        }
    }
}
