namespace Loop.Tests.Support;

/// <summary>The end of every loop test: nothing left behind, nothing unexpected logged, every loop descriptor closed.</summary>
public static class LoopChecks
{
    public static void AssertCleanAndClose(IOLoop loop, TestLog log, bool skipLeakCheck)
    {
        try
        {
            if (!loop.IsClosed && !skipLeakCheck)
            {
                Assert.Multiple(() =>
                {
                    Assert.That(loop.HandlerCount, Is.Zero, "handlers left registered");
                    Assert.That(loop.PendingTimeoutCount, Is.Zero, "timers left pending");
                    Assert.That(loop.PendingCallbackCount, Is.Zero, "callbacks left queued");
                });
            }

            Assert.That(log.Unexpected.Select(e => $"{e.Level} {e.EventId.Id}: {e.Message} {e.Exception}"), Is.Empty, "unexpected log entries");
        }
        finally
        {
            int backendFd = loop.IsClosed ? -1 : loop.BackendFileDescriptor;
            string? backendTarget = backendFd >= 0 ? Fds.Target(backendFd) : null;
            loop.Close(allFds: true);
            loop.Dispose();
            log.Dispose();
            // Anonymous inodes (an epoll) all read alike (or empty), so only a named file can be told apart.
            if (!string.IsNullOrEmpty(backendTarget) && !backendTarget.StartsWith("anon_inode:", StringComparison.Ordinal))
            {
                // Other threads (servers of the stream tests, the runtime's socket engine) may take
                // the number at once; only the same open file under it would be a leak.
                Assert.That(Fds.Target(backendFd), Is.Not.EqualTo(backendTarget), "the poller's descriptor is still open after Close");
            }
        }
    }
}
