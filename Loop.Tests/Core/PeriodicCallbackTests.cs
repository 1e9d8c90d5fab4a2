namespace Loop.Tests.Core;

public sealed class PeriodicCallbackTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void Start_PlainCallback_RunsRepeatedlyUntilStopped()
    {
        int calls = 0;
        PeriodicCallback? pc = null;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            pc = new PeriodicCallback(() =>
            {
                calls++;
                if (calls == 3)
                {
                    pc!.Stop();
                    done.SetResult();
                }
            }, TimeSpan.FromMilliseconds(10), loop: Loop);
            pc.Start();
            Assert.That(pc.IsRunning, Is.True);
            await done.Task;
        });
        Assert.That(calls, Is.EqualTo(3));
        Assert.That(pc!.IsRunning, Is.False);
    }

    [Test]
    public void Start_AsyncCallbackLongerThanPeriod_CallsNeverOverlap()
    {
        int started = 0;
        int finished = 0;
        int maxInFlight = 0;
        PeriodicCallback? pc = null;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            pc = new PeriodicCallback(async () =>
            {
                started++;
                maxInFlight = Math.Max(maxInFlight, started - finished);
                // The behaviour under test: a call that outlasts the period (Tornado's test sleeps 25 ms too).
                await Task.Delay(25);
                finished++;
                if (finished == 3)
                {
                    pc!.Stop();
                    done.SetResult();
                }
            }, TimeSpan.FromMilliseconds(10), loop: Loop);
            pc.Start();
            await done.Task;
        });
        Assert.That(started, Is.EqualTo(3));
        Assert.That(finished, Is.EqualTo(3));
        Assert.That(maxInFlight, Is.EqualTo(1));
    }

    [Test]
    public void Start_WithoutLoop_UsesCurrentLoop()
    {
        int calls = 0;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            PeriodicCallback? pc = null;
            pc = new PeriodicCallback(() =>
            {
                calls++;
                pc!.Stop();
                done.SetResult();
            }, TimeSpan.FromMilliseconds(1));
            pc.Start();
            await done.Task;
        });
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void Callback_Throws_IsLoggedAndScheduleGoesOn()
    {
        int calls = 0;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            PeriodicCallback? pc = null;
            pc = new PeriodicCallback(() =>
            {
                calls++;
                if (calls == 2)
                {
                    pc!.Stop();
                    done.SetResult();
                    return;
                }

                throw new InvalidOperationException("periodic boom");
            }, TimeSpan.FromMilliseconds(1), loop: Loop);
            pc.Start();
            await done.Task;
        });
        Assert.That(calls, Is.EqualTo(2));
        Assert.That(Log.Expect(eventId: 4)[0].Exception!.Message, Is.EqualTo("periodic boom"));
    }

    [Test]
    public void Stop_RemovesPendingTimer()
    {
        var pc = new PeriodicCallback(() => Assert.Fail("ran after Stop"), TimeSpan.FromHours(1), loop: Loop);
        pc.Start();
        Assert.That(Loop.PendingTimeoutCount, Is.EqualTo(1));
        pc.Stop();
        Assert.That(Loop.PendingTimeoutCount, Is.Zero);
        Assert.That(pc.IsRunning, Is.False);
    }

    [Test]
    public void Start_FirstCallComesOnePeriodAfterStart()
    {
        var pc = new PeriodicCallback(() => { }, TimeSpan.FromSeconds(100), loop: Loop);
        double before = Loop.Time();
        pc.Start();
        Assert.That(pc.NextTimeout - before, Is.InRange(99.0, 101.0));
        pc.Stop();
    }
}
