using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// Both wakers, on both backends: eventfd (Linux) and the self-pipe that macOS and the BSDs
/// use, forced here so that it runs on Linux too.
/// </summary>
public sealed class WakerTests(PollerBackend backend) : LoopFixture(backend)
{
    [TestCase(false)]
    [TestCase(true)]
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

    [TestCase(false)]
    [TestCase(true)]
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
    public void Close_ReleasesWakerDescriptors(bool pipe)
    {
        // Other threads of the test process (Kestrel, servers of other tests) open sockets at any
        // time: count only the kinds of descriptor a loop makes (eventfd, pipe, epoll).
        var before = new HashSet<string>(Directory.GetFileSystemEntries("/proc/self/fd"));
        IOLoop loop = NewLoop(forcePipeWaker: pipe);
        var opened = Directory.GetFileSystemEntries("/proc/self/fd").Where(f => !before.Contains(f) && IsLoopKind(f)).ToList();
        int expected = (pipe ? 2 : 1) + (Backend == PollerBackend.Poll ? 0 : 1);
        Assert.That(opened, Has.Count.EqualTo(expected), "descriptors opened by a new loop: " + string.Join(", ", Directory.GetFileSystemEntries("/proc/self/fd").Where(f => !before.Contains(f)).Select(f => $"{f} -> {Fds.Target(int.Parse(Path.GetFileName(f)))}")));
        var targets = opened.ToDictionary(path => path, path => Fds.Target(int.Parse(Path.GetFileName(path))));
        loop.Close();

        // A number may be taken again at once by another thread; only the same file under it is a leak.
        Assert.That(opened.Where(path => targets[path] is null ? File.Exists(path) : Fds.Target(int.Parse(Path.GetFileName(path))) == targets[path]), Is.Empty);
    }

    private static bool IsLoopKind(string fdPath)
    {
        string? target = Fds.Target(int.Parse(Path.GetFileName(fdPath)));
        // .NET cannot read the epoll descriptor's link ("anon_inode:[eventpoll]"): null.
        return target is null || (target.StartsWith("pipe:", StringComparison.Ordinal) || target.Contains("[eventfd]", StringComparison.Ordinal) || target.Contains("[eventpoll]", StringComparison.Ordinal));
    }
}
