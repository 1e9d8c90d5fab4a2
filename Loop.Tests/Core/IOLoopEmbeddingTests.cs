using System.Diagnostics;
using Loop.Tests.Support;
using Libc = global::Loop.Interop.Libc;

namespace Loop.Tests.Core;

/// <summary>A host scheduler that owns the thread and ticks the loop with RunOnce.</summary>
public sealed class IOLoopEmbeddingTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void HostLoop_SleepingOnBackendDescriptor_TicksLoopAndBothHandlerAndTimerFire()
    {
        using SocketPair pair = SocketPair.Create();
        bool timerFired = false;
        bool handlerFired = false;
        Loop.AddHandler(pair.Left, (fd, _) =>
        {
            Span<byte> buffer = stackalloc byte[8];
            pair.Left.Receive(buffer);
            handlerFired = true;
            Loop.RemoveHandler(fd);
        }, IOEvents.Read);

        // The timer makes the socket readable, so the handler can only fire after the host has
        // slept until the timer's deadline and woken again on the descriptor.
        Loop.CallLater(TimeSpan.FromMilliseconds(20), () =>
        {
            timerFired = true;
            pair.Right.Send("x"u8);
        });

        int ticks = 0;
        Fds.RunBounded(() =>
        {
            while (!(timerFired && handlerFired))
            {
                HostSleep(Loop, TimeSpan.FromSeconds(5));
                Loop.RunOnce(TimeSpan.Zero);
                ticks++;
            }
        }, TestTimeout);

        Assert.That(timerFired, Is.True);
        Assert.That(handlerFired, Is.True);
        Assert.That(ticks, Is.LessThan(100), "the host spun instead of sleeping on the loop");
    }

    [Test]
    public void HostLoop_SleepingOnBackendDescriptor_IsWokenByAddCallbackFromAnotherThread()
    {
        bool ran = false;
        using var hostAsleep = new ManualResetEventSlim();
        var adder = new Thread(() =>
        {
            hostAsleep.Wait(TestTimeout);
            Loop.AddCallback(() => ran = true);
        });
        adder.Start();
        Fds.RunBounded(() =>
        {
            while (!ran)
            {
                hostAsleep.Set();
                HostSleep(Loop, TimeSpan.FromSeconds(30));
                Loop.RunOnce(TimeSpan.Zero);
            }
        }, TestTimeout);
        Assert.That(adder.Join(TestTimeout), Is.True);
        Assert.That(ran, Is.True);
    }

    [Test]
    public void BackendTimeout_ReflectsCallbacksAndNextTimer()
    {
        Assert.That(Loop.BackendTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan));
        TimeoutHandle timer = Loop.CallLater(TimeSpan.FromSeconds(30), () => { });
        Assert.That(Loop.BackendTimeout, Is.InRange(TimeSpan.FromSeconds(29), TimeSpan.FromSeconds(30)));
        Loop.AddCallback(() => { });
        Assert.That(Loop.BackendTimeout, Is.EqualTo(TimeSpan.Zero));
        Loop.RunOnce(TimeSpan.Zero);
        Loop.RemoveTimeout(timer);
        Assert.That(Loop.BackendTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan));
    }

    [Test]
    public void RunOnce_Zero_NeverBlocks_EvenWithFarTimer()
    {
        TimeoutHandle far = Loop.CallLater(TimeSpan.FromHours(1), () => { });
        Fds.RunBounded(() =>
        {
            for (int i = 0; i < 100; i++)
            {
                Assert.That(Loop.RunOnce(TimeSpan.Zero), Is.True, "a pending timer is pending work");
            }
        }, TestTimeout);
        Loop.RemoveTimeout(far);
        Assert.That(Loop.RunOnce(TimeSpan.Zero), Is.False, "nothing registered, scheduled or queued");
    }

    [Test]
    public void RunOnce_WithTimerDueDuringWait_RunsItBeforeReturning()
    {
        bool fired = false;
        Loop.CallLater(TimeSpan.FromMilliseconds(5), () => fired = true);
        Fds.RunBounded(() => Loop.RunOnce(TimeSpan.FromSeconds(30)), TestTimeout);
        Assert.That(fired, Is.True);
    }

    [Test]
    public void RunOnce_AfterRunningCallbacksOrTimers_ReturnsWithoutWaiting()
    {
        // Nothing else is pending: if RunOnce waited after doing work, it would sit out the
        // full maxWait and the bound would fail the test.
        bool ran = false;
        Loop.AddCallback(() => ran = true);
        Fds.RunBounded(() => Loop.RunOnce(TimeSpan.FromMinutes(5)), TestTimeout);
        Assert.That(ran, Is.True);

        bool fired = false;
        Loop.CallAt(Loop.Time() - 1, () => fired = true);
        Fds.RunBounded(() => Loop.RunOnce(TimeSpan.FromMinutes(5)), TestTimeout);
        Assert.That(fired, Is.True);
    }

    [Test]
    public void RunOnce_WokenByCallbackFromAnotherThread_RunsItBeforeReturning()
    {
        bool ran = false;
        using var waiting = new ManualResetEventSlim();
        var adder = new Thread(() =>
        {
            waiting.Wait(TestTimeout);
            Loop.AddCallback(() => ran = true);
        });
        adder.Start();
        Fds.RunBounded(() =>
        {
            waiting.Set();
            Loop.RunOnce(TimeSpan.FromMinutes(5));
        }, TestTimeout);
        Assert.That(adder.Join(TestTimeout), Is.True);
        Assert.That(ran, Is.True, "RunOnce returned from its wait without running the callback that woke it");
    }

    [Test]
    public void RunOnce_OnPlainHostThread_KeepsLoopContextInstalledBetweenTicksUntilDetach()
    {
        SynchronizationContext? inside = null, between = null, detached = null;
        Fds.RunBounded(() =>
        {
            Loop.AddCallback(() => inside = SynchronizationContext.Current);
            Loop.RunOnce(TimeSpan.Zero);
            between = SynchronizationContext.Current;
            Loop.DetachCurrentThread();
            detached = SynchronizationContext.Current;
        }, TestTimeout);
        Assert.That(inside, Is.SameAs(Loop.SynchronizationContext));
        Assert.That(between, Is.SameAs(Loop.SynchronizationContext), "a plain host thread is attached by its first tick");
        Assert.That(detached, Is.Null);
    }

    /// <summary>
    /// What a host does between ticks: sleep in its own poll(2) on the loop's descriptor for
    /// at most BackendTimeout. With the poll and IOCP backends, which have no descriptor, it
    /// hands the wait to RunOnce instead.
    /// </summary>
    private static unsafe void HostSleep(IOLoop loop, TimeSpan cap)
    {
        TimeSpan wait = loop.BackendTimeout;
        if (wait == Timeout.InfiniteTimeSpan || wait > cap)
        {
            wait = cap;
        }

        int fd = loop.BackendFileDescriptor;
        if (fd < 0 || OperatingSystem.IsWindows())
        {
            loop.RunOnce(wait);
            return;
        }

        var pollFd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
        int result = Libc.poll(&pollFd, 1, (int)Math.Ceiling(wait.TotalMilliseconds));
        int errno = result < 0 ? Libc.LastErrno : 0;
        Assert.That(result >= 0 || errno == Libc.EINTR, Is.True, $"poll(2) on the loop's descriptor failed: errno {errno}");
    }
}
