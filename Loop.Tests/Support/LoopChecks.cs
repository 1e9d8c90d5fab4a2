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
            loop.Close(allFds: true);
            loop.Dispose();
            log.Dispose();
            if (backendFd >= 0)
            {
                Assert.That(Fds.IsOpen(backendFd), Is.False, "the poller's descriptor is still open after Close");
            }
        }
    }
}
