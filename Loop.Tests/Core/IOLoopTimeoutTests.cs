namespace Loop.Tests.Core;

public sealed class IOLoopTimeoutTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void AddTimeout_RelativeTimeSpan_Runs()
    {
        bool ran = false;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Loop.AddTimeout(TimeSpan.FromTicks(10), () =>
            {
                ran = true;
                done.SetResult();
            });
            await done.Task;
        });
        Assert.That(ran, Is.True);
    }

    [Test]
    public void TimeoutApis_WithState_AllRunWithTheirState()
    {
        var seen = new List<string>();
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Action<object?> record = s =>
            {
                seen.Add((string)s!);
                if (seen.Count == 4)
                {
                    done.SetResult();
                }
            };
            Loop.AddTimeout(Loop.Time(), record, "absolute");
            Loop.AddTimeout(TimeSpan.FromTicks(1), record, "relative");
            Loop.CallAt(Loop.Time(), record, "call_at");
            Loop.CallLater(TimeSpan.Zero, record, "call_later");
            await done.Task;
        });
        Assert.That(seen, Is.EquivalentTo(new[] { "absolute", "relative", "call_at", "call_later" }));
    }

    [Test]
    public void TimeoutApis_ReturnHandlesThatRemoveTimeoutAccepts()
    {
        bool ran = false;
        TimeoutHandle[] handles =
        [
            Loop.AddTimeout(Loop.Time(), () => ran = true),
            Loop.AddTimeout(TimeSpan.Zero, () => ran = true),
            Loop.CallAt(Loop.Time(), () => ran = true),
            Loop.CallLater(TimeSpan.Zero, () => ran = true),
        ];
        Assert.That(handles.All(h => h.IsPending), Is.True);
        Assert.That(handles.Distinct().Count(), Is.EqualTo(4), "each call names its own timer");
        foreach (TimeoutHandle handle in handles)
        {
            Loop.RemoveTimeout(handle);
        }

        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.False);
        Assert.That(handles.Any(h => h.IsPending), Is.False);
    }

    [Test]
    public void RemoveTimeout_AfterItFired_IsHarmless()
    {
        TimeoutHandle handle = default;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            handle = Loop.CallLater(TimeSpan.Zero, () => done.SetResult());
            await done.Task;
        });
        Assert.That(handle.IsPending, Is.False);
        Assert.DoesNotThrow(() => Loop.RemoveTimeout(handle));
        Assert.DoesNotThrow(() => Loop.RemoveTimeout(handle));
        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
    }

    [Test]
    public void RemoveTimeout_ManyAddRemoveCycles_CancelledTimersAreCleanedUp()
    {
        for (int i = 0; i < 2000; i++)
        {
            TimeoutHandle handle = Loop.CallLater(TimeSpan.FromHours(1), () => { });
            Loop.RemoveTimeout(handle);
        }

        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
        Loop.RunOnce(TimeSpan.Zero);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
        Assert.That(Loop.BackendTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan), "cancelled timers still count as the next deadline");
    }

    [Test]
    public void RemoveTimeout_OfLaterTimerFromEarlierTimerInSameIteration_SuppressesIt()
    {
        var calls = new List<bool>();
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            double when = Loop.Time();
            TimeoutHandle second = default;
            Loop.CallAt(when, () =>
            {
                calls.Add(true);
                Loop.RemoveTimeout(second);
            });
            second = Loop.CallAt(when, () => calls.Add(false));
            Loop.CallAt(when, () => done.SetResult());
            await done.Task;
        });
        Assert.That(calls, Is.EqualTo(new[] { true }));
    }

    [Test]
    public void Timers_EqualDeadlines_FireInScheduleOrder()
    {
        var order = new List<int>();
        double when = Loop.Time();
        for (int i = 0; i < 20; i++)
        {
            int n = i;
            Loop.CallAt(when, () => order.Add(n));
        }

        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(order, Is.EqualTo(Enumerable.Range(0, 20)));
    }

    [Test]
    public void Timers_DifferentDeadlines_FireInDeadlineOrder()
    {
        var order = new List<int>();
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            int[] delaysMs = [30, 5, 20, 0, 10];
            foreach (int ms in delaysMs)
            {
                Loop.CallLater(TimeSpan.FromMilliseconds(ms), () =>
                {
                    order.Add(ms);
                    if (order.Count == delaysMs.Length)
                    {
                        done.SetResult();
                    }
                });
            }

            await done.Task;
        });
        Assert.That(order, Is.EqualTo(new[] { 0, 5, 10, 20, 30 }));
    }

    [Test]
    public void Timer_ReschedulingItselfWithZeroDelay_RunsOncePerTickAndDoesNotStarveTheLoop()
    {
        // A timer that keeps adding a zero-delay timer runs once per pass, never in a tight
        // loop within one, and a tick that ran it returns without a second pass.
        int runs = 0;
        TimeoutHandle pending = default;
        Action? tick = null;
        tick = () =>
        {
            runs++;
            pending = Loop.CallLater(TimeSpan.Zero, tick!);
        };
        pending = Loop.CallLater(TimeSpan.Zero, tick);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(runs, Is.EqualTo(1));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(runs, Is.EqualTo(2));
        Loop.RemoveTimeout(pending);
    }

    [Test]
    public void TimeoutCallback_Throws_IsLoggedAndOtherTimersRun()
    {
        bool other = false;
        Loop.CallLater(TimeSpan.Zero, () => throw new InvalidOperationException("timer boom"));
        Loop.CallLater(TimeSpan.Zero, () => other = true);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(other, Is.True);
        Log.Expect(eventId: 1);
    }

    [Test]
    public void Time_IsMonotonicSeconds()
    {
        double a = Loop.Time();
        double b = Loop.Time();
        Assert.That(b, Is.GreaterThanOrEqualTo(a));
        TimeoutHandle handle = Loop.CallLater(TimeSpan.FromSeconds(100), () => { });
        Assert.That(handle.Deadline - a, Is.InRange(99.0, 101.0));
        Loop.RemoveTimeout(handle);
    }

    [Test]
    public void Timer_ScheduledInThePastByDueTimer_WaitsForNextPassAndDoesNotStarveOlderDueTimers()
    {
        var order = new List<string>();
        double when = Loop.Time();
        int chain = 0;
        Action? scheduleInPast = null;
        scheduleInPast = () =>
        {
            order.Add($"past{chain}");

            // Each run schedules another timer with a deadline before every pending one.
            if (++chain < 3)
            {
                Loop.CallAt(when - 100, scheduleInPast!);
            }
        };
        Loop.CallAt(when, () =>
        {
            order.Add("first");
            Loop.CallAt(when - 100, scheduleInPast);
        });
        Loop.CallAt(when, () => order.Add("second"));

        // One timer pass: both timers that were due at its start run, the new one waits.
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(order.Take(2), Is.EqualTo(new[] { "first", "second" }));
        while (Loop.PendingTimeoutCount > 0)
        {
            Loop.RunOnce(TimeSpan.Zero);
        }

        Assert.That(order, Is.EqualTo(new[] { "first", "second", "past0", "past1", "past2" }));
    }

    [Test]
    public void RemoveTimeout_OfTimerSetAsideInPass_IsHonoured()
    {
        bool ran = false;
        double when = Loop.Time();
        TimeoutHandle late = default;
        Loop.CallAt(when, () => late = Loop.CallAt(when - 100, () => ran = true));
        Loop.CallAt(when, () => Loop.RemoveTimeout(late));
        Loop.RunOnce(TimeSpan.Zero);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.False);
        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
    }

    [Test]
    public void RemoveTimeout_StaleHandleAfterSlotReuse_DoesNotCancelNewerTimer()
    {
        bool newer = false;
        TimeoutHandle old = Loop.CallLater(TimeSpan.Zero, () => { });
        Loop.RunOnce(TimeSpan.Zero);
        TimeoutHandle reused = Loop.CallLater(TimeSpan.Zero, () => newer = true);
        Assert.That(reused.Slot, Is.EqualTo(old.Slot), "precondition: the freed slot is reused");
        Loop.RemoveTimeout(old);
        Assert.That(reused.IsPending, Is.True);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(newer, Is.True);
    }

    [Test]
    public void RemoveTimeout_DefaultHandle_DoesNothing_AndHandleOfOtherLoop_Throws()
    {
        Assert.That(default(TimeoutHandle).IsPending, Is.False);
        Assert.DoesNotThrow(() => Loop.RemoveTimeout(default));
        using IOLoop other = NewLoop();
        TimeoutHandle foreign = other.CallLater(TimeSpan.FromHours(1), () => { });
        Assert.Throws<ArgumentException>(() => Loop.RemoveTimeout(foreign));
        other.RemoveTimeout(foreign);
    }

    [Test]
    public void Close_MakesOutstandingHandlesNotPending()
    {
        SkipLeakCheck = true;
        TimeoutHandle handle = Loop.CallLater(TimeSpan.FromHours(1), () => { });
        Loop.Close();
        Assert.That(handle.IsPending, Is.False);
    }
}
