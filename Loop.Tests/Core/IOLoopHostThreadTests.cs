using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// A loop ticked with RunOnce belongs to the thread that ticks it, between ticks too: that
/// thread is the loop thread, a second thread may not tick it, and (attached) the host's own
/// awaits come back to it.
/// </summary>
public sealed class IOLoopHostThreadTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void RunOnce_BetweenTicks_HostThreadIsTheLoopThreadAndNoOtherIs()
    {
        bool betweenTicks = false;
        bool elsewhere = true;
        Fds.RunBounded(() =>
        {
            Loop.RunOnce(TimeSpan.Zero);
            betweenTicks = Loop.IsOnLoopThread;
            var other = new Thread(() => elsewhere = Loop.IsOnLoopThread);
            other.Start();
            other.Join();
            Loop.DetachCurrentThread();
        }, TestTimeout);

        Assert.That(betweenTicks, Is.True, "the host thread is the loop thread between its ticks");
        Assert.That(elsewhere, Is.False);
        Assert.That(Loop.IsOnLoopThread, Is.False, "after DetachCurrentThread no thread owns the loop");
    }

    [Test]
    public void RunOnce_FromSecondThreadWhileHostThreadLives_ThrowsNamingBothThreads()
    {
        using var ticked = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var host = new Thread(() =>
        {
            Loop.RunOnce(TimeSpan.Zero);
            ticked.Set();
            release.Wait(TestTimeout);
            Loop.DetachCurrentThread();
        })
        { Name = "game-host", IsBackground = true };
        host.Start();
        try
        {
            Assert.That(ticked.Wait(TestTimeout), Is.True);
            var error = Assert.Throws<InvalidOperationException>(() => Loop.RunOnce(TimeSpan.Zero));
            Assert.That(error!.Message, Does.Contain("'game-host'").And.Contain("DetachCurrentThread"));
            Assert.Throws<InvalidOperationException>(() => Loop.Start(), "Start from another thread is refused too");
            Assert.Throws<InvalidOperationException>(() => Loop.RunSync(() => Task.CompletedTask), "and RunSync, before it queues or schedules anything");
            Assert.That((Loop.PendingCallbackCount, Loop.PendingTimeoutCount), Is.EqualTo((0, 0)));
            Assert.Throws<InvalidOperationException>(() => Loop.AttachCurrentThread());
        }
        finally
        {
            release.Set();
            Assert.That(host.Join(TestTimeout), Is.True);
        }

        Loop.RunOnce(TimeSpan.Zero);
        Loop.DetachCurrentThread();
    }

    [Test]
    public void RunOnce_AfterHostThreadEndedWithoutLettingGo_AnotherThreadTakesOverWithItsCallbacks()
    {
        bool ran = false;
        Fds.RunBounded(() =>
        {
            Loop.RunOnce(TimeSpan.Zero);

            // Queued on the host thread between ticks: on its local queue, no wake-up.
            Loop.AddCallback(() => ran = true);
            Assert.That(Loop.BackendTimeout, Is.EqualTo(TimeSpan.Zero));
        }, TestTimeout);

        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.True, "the new thread ran what the ended host thread had queued");
        Assert.That(Loop.IsOnLoopThread, Is.True);
        Loop.DetachCurrentThread();
    }

    [Test]
    public void StartOnAFreeLoop_AfterItReturns_ThreadDoesNotKeepTheLoop()
    {
        Loop.AddCallback(Loop.Stop);
        Loop.Start();
        Assert.That(Loop.IsOnLoopThread, Is.False, "Start and RunSync own the loop only while they run");
        Fds.RunBounded(() => Loop.RunOnce(TimeSpan.Zero), TestTimeout);
    }

    [Test]
    public void AttachCurrentThread_AwaitsInHostCode_ResumeOnHostThreadAtALaterTick()
    {
        var resumedOn = new List<(string What, bool OnHost, bool InTick)>();
        bool inTick = false;
        Task? work = null;
        Fds.RunBounded(() =>
        {
            SynchronizationContext? before = SynchronizationContext.Current;
            Loop.AttachCurrentThread();
            Assert.That(SynchronizationContext.Current, Is.SameAs(Loop.SynchronizationContext));
            Assert.That(IOLoop.TryGetCurrent(out IOLoop? current) && ReferenceEquals(current, Loop), Is.True);
            Thread host = Thread.CurrentThread;

            // The host's tick code, outside RunOnce: it awaits a loop timer, a loop callback,
            // the loop's executor and a plain thread-pool task.
            work = HostCodeAsync();
            async Task HostCodeAsync()
            {
                var timer = new TaskCompletionSource();
                Loop.CallLater(TimeSpan.FromMilliseconds(1), timer.SetResult);
                await timer.Task;
                resumedOn.Add(("loop timer", Thread.CurrentThread == host, inTick));

                var callback = new TaskCompletionSource();
                Loop.AddCallback(callback.SetResult);
                await callback.Task;
                resumedOn.Add(("loop callback", Thread.CurrentThread == host, inTick));

                int answer = await Loop.RunInExecutor(() => 42);
                resumedOn.Add(("executor", Thread.CurrentThread == host && answer == 42, inTick));

                await Task.Run(static () => { });
                resumedOn.Add(("thread-pool task", Thread.CurrentThread == host, inTick));
            }

            for (int tick = 0; tick < 1000 && !work.IsCompleted; tick++)
            {
                inTick = true;
                Loop.RunOnce(TimeSpan.FromMilliseconds(50));
                inTick = false;
            }

            Loop.DetachCurrentThread();
            Assert.That(SynchronizationContext.Current, Is.SameAs(before), "DetachCurrentThread put the host's context back");
        }, TestTimeout);

        Assert.That(work!.IsCompletedSuccessfully, Is.True);
        Assert.That(resumedOn, Is.EqualTo(new[]
        {
            ("loop timer", true, true),
            ("loop callback", true, true),
            ("executor", true, true),
            ("thread-pool task", true, true),
        }));
    }

    [Test]
    public void RunOnce_OnHostThreadWithAContextOfItsOwn_LeavesThatContextBetweenTicks()
    {
        var hostContext = new SynchronizationContext();
        SynchronizationContext? between = null;
        Fds.RunBounded(() =>
        {
            SynchronizationContext.SetSynchronizationContext(hostContext);
            Loop.RunOnce(TimeSpan.Zero);
            between = SynchronizationContext.Current;
            Loop.DetachCurrentThread();
        }, TestTimeout);
        Assert.That(between, Is.SameAs(hostContext));
    }

    [Test]
    public void Close_OnAttachedHostThread_PutsTheHostsContextBack()
    {
        SynchronizationContext? after = SynchronizationContext.Current;
        Fds.RunBounded(() =>
        {
            SynchronizationContext? before = SynchronizationContext.Current;
            IOLoop loop = NewLoop();
            loop.AttachCurrentThread();
            loop.Close();
            after = SynchronizationContext.Current;
            Assert.That(after, Is.SameAs(before));
            Assert.That(IOLoop.TryGetCurrent(out _), Is.False, "the closed loop is not current any more");
        }, TestTimeout);
        Assert.That(after, Is.Null);
    }

    [Test]
    public void RunOnce_FromThreadPoolThreadsInTurn_IsAllowedAndBindsNone()
    {
        // An async host loop ticks from whichever pool thread its awaits resume on.
        for (int i = 0; i < 3; i++)
        {
            Task<(bool During, bool After, SynchronizationContext? Context)> tick = Task.Run(() =>
            {
                bool during = false;
                Loop.AddCallback(() => during = Loop.IsOnLoopThread);
                Loop.RunOnce(TimeSpan.Zero);
                return (during, Loop.IsOnLoopThread, SynchronizationContext.Current);
            });
            Assert.That(tick.Wait(TestTimeout), Is.True);
            Assert.That(tick.Result, Is.EqualTo((true, false, (SynchronizationContext?)null)), "a pool thread holds the loop only during the call");
        }

        Task attach = Task.Run(Loop.AttachCurrentThread);
        AggregateException? refused = Assert.Catch<AggregateException>(() => attach.Wait(TestTimeout));
        Assert.That(refused?.InnerException, Is.TypeOf<InvalidOperationException>());
    }

    [Test]
    public void RunOnce_WithAttachOnFirstTickOff_BindsThePlainThreadButLeavesItsContext()
    {
        using IOLoop loop = new(new IOLoopOptions { Backend = Backend, LoggerFactory = Log, AttachOnFirstTick = false });
        (bool Owned, SynchronizationContext? Context) between = default;
        Fds.RunBounded(() =>
        {
            loop.RunOnce(TimeSpan.Zero);
            between = (loop.IsOnLoopThread, SynchronizationContext.Current);
            loop.DetachCurrentThread();
        }, TestTimeout);
        Assert.That(between, Is.EqualTo((true, (SynchronizationContext?)null)));
    }

    [Test]
    public void AttachCurrentThread_WhileRunning_IsRefused()
    {
        Exception? error = null;
        Loop.AddCallback(() =>
        {
            error = Assert.Catch(() => Loop.AttachCurrentThread());
            Loop.Stop();
        });
        Loop.Start();
        Assert.That(error, Is.TypeOf<InvalidOperationException>());
    }
}
