using System.Runtime.InteropServices;
using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// Signals aimed at the loop thread while it waits in the poller make the wait fail with
/// EINTR; the loop must retry with the time that is left, not stop or fire timers early.
/// </summary>
[Platform(Include = "Linux", Reason = "Signals interrupt a Unix poller's wait (EINTR); tgkill and /proc are Linux's. A Windows wait is not interrupted by signals")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class SignalInterruptionTests(PollerBackend backend) : LoopFixture(backend)
{
    private const int SIGWINCH = 28;

    [Test]
    public void Poll_InterruptedBySignalsWhileWaiting_RetriesAndTimerFiresOnTime()
    {
        // A handled signal (the runtime installs one for SIGWINCH once it is registered)
        // interrupts epoll_wait and poll with EINTR whatever SA_RESTART says.
        using PosixSignalRegistration registration = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, context => context.Cancel = true);
        int loopTid = 0;
        double scheduledAt = 0;
        double firedAt = 0;
        using var loopWaiting = new ManualResetEventSlim();
        Loop.AddCallback(() =>
        {
            loopTid = gettid();
            scheduledAt = Loop.Time();
            Loop.CallLater(TimeSpan.FromMilliseconds(300), () =>
            {
                firedAt = Loop.Time();
                Loop.Stop();
            });
            loopWaiting.Set();
        });

        int signalsSent = 0;
        Exception? signallerError = null;
        var signaller = new Thread(() =>
        {
            try
            {
                loopWaiting.Wait(TestTimeout);
                for (int i = 0; i < 10 && firedAt == 0 && Loop.IsRunning; i++)
                {
                    // Wait until the loop thread sleeps (in the poller), then interrupt it.
                    while (ThreadState(loopTid) != 'S' && firedAt == 0)
                    {
                        Thread.Yield();
                    }

                    if (tgkill(Environment.ProcessId, loopTid, SIGWINCH) == 0)
                    {
                        signalsSent++;
                    }
                }
            }
            catch (Exception e)
            {
                // The loop thread may be gone if the loop died; the assertions below report it.
                signallerError = e;
            }
        });
        signaller.Start();
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(signaller.Join(TestTimeout), Is.True);
        Assert.That(signallerError, Is.Null);
        Assert.That(signalsSent, Is.GreaterThan(0), "no signal reached the waiting loop");
        Assert.That(firedAt - scheduledAt, Is.GreaterThanOrEqualTo(0.3), "the timer fired before its deadline");
    }

    /// <summary>The state letter of a thread of this process (R running, S sleeping, …).</summary>
    private static char ThreadState(int tid)
    {
        string stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }

    [LibraryImport("libc.so.6")]
    private static partial int gettid();

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int tgkill(int tgid, int tid, int sig);
}
