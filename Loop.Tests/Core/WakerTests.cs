using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// Every waker on every backend: eventfd (Linux) and the self-pipe that macOS and the BSDs
/// use, forced here so that it runs on Linux too; on Windows the completion packet that the
/// IOCP backend posts (the self-pipe cases are Unix-only there, and say so).
/// </summary>
public sealed class WakerTests(PollerBackend backend) : LoopFixture(backend)
{
    [TestCaseSource(nameof(Wakers))]
    public void AddCallback_FromOtherThread_WakesBlockedLoop(bool pipe)
    {
        using IOLoop loop = NewLoop(forcePipeWaker: pipe);
        TimeoutHandle far = loop.CallLater(TimeSpan.FromHours(1), () => { });
        int woken = 0;
        loop.AddCallback(() => new Thread(() => loop.AddCallback(() =>
        {
            woken++;
            loop.Stop();
        })).Start());
        Fds.RunBounded(loop.Start, TestTimeout);
        loop.RemoveTimeout(far);
        Assert.That(woken, Is.EqualTo(1));
    }

    [TestCaseSource(nameof(Wakers))]
    public void ManyWakesBeforeTheLoopRuns_AreCoalescedAndAllCallbacksRun(bool pipe)
    {
        using IOLoop loop = NewLoop(forcePipeWaker: pipe);
        int ran = 0;
        var adders = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                loop.AddCallback(() => ran++);
                if (i % 100 == 0)
                {
                    loop.Stop();
                }
            }
        })).ToList();
        adders.ForEach(t => t.Start());
        adders.ForEach(t => Assert.That(t.Join(TestTimeout), Is.True));
        loop.AddCallback(loop.Stop);
        Fds.RunBounded(() =>
        {
            while (ran < 40_000)
            {
                loop.RunOnce(TimeSpan.FromSeconds(1));
            }
        }, TestTimeout);
        Assert.That(ran, Is.EqualTo(40_000));

        // Nothing is left that would make the loop spin: with no timers or callbacks, a
        // zero-wait tick reports no work.
        Assert.That(loop.RunOnce(TimeSpan.Zero), Is.False);
    }

    [TestCase(false)]
    [TestCase(true)]
    [Platform(Exclude = "Win", Reason = "The wakers' descriptors are looked up in /proc; the IOCP waker has none (a posted packet)")]
    public void Close_ReleasesWakerDescriptors(bool pipe)
    {
        // Other threads of the test process open and close descriptors at any time, so the
        // loop's own descriptors are asked of the loop, not guessed from a /proc listing.
        IOLoop loop = NewLoop(forcePipeWaker: pipe);
        List<int> own = loop.OwnFileDescriptors.ToList();
        int expected = (pipe ? 2 : 1) + (Backend == PollerBackend.Poll ? 0 : 1);
        Assert.That(own, Has.Count.EqualTo(expected));
        Assert.That(own.Where(fd => !IsLoopKind(fd)), Is.Empty, "descriptors of the loop: " + string.Join(", ", own.Select(fd => $"{fd} -> {Fds.Target(fd)}")));
        var targets = own.ToDictionary(fd => fd, Fds.Target);
        loop.Close();

        // A number may be taken again at once by another thread; only the same file under it is a leak.
        Assert.That(own.Where(fd => targets[fd] is null ? Fds.IsListed(fd) : Fds.Target(fd) == targets[fd]), Is.Empty);
    }

    /// <summary>The waker of the OS (false), and the self-pipe forced (true), which Windows does not have.</summary>
    private static IEnumerable<TestCaseData> Wakers()
    {
        yield return new TestCaseData(false);
        yield return OperatingSystem.IsWindows()
            ? new TestCaseData(true).Ignore("The self-pipe waker is Unix-only; on Windows the loop is woken through its completion port")
            : new TestCaseData(true);
    }

    private static bool IsLoopKind(int fd)
    {
        // An epoll's link may not be readable from .NET (null) while the descriptor is open.
        string? target = Fds.Target(fd);
        return target is null
            ? Fds.IsListed(fd)
            : target.StartsWith("pipe:", StringComparison.Ordinal) || target.Contains("[eventfd]", StringComparison.Ordinal) || target.Contains("[eventpoll]", StringComparison.Ordinal);
    }
}
