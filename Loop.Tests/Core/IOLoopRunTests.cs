using Loop.Tests.Support;

namespace Loop.Tests.Core;

public sealed class IOLoopRunTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void Backend_IsTheOneAskedFor()
    {
        Assert.That(Loop.Backend, Is.EqualTo(Backend));
        Assert.That(Loop.BackendFileDescriptor, Backend is PollerBackend.Poll or PollerBackend.Iocp ? Is.EqualTo(-1) : Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void Start_FromCallbackOfRunningLoop_ThrowsAndLoopGoesOn()
    {
        Exception? error = null;
        Loop.AddCallback(() =>
        {
            try
            {
                Loop.Start();
            }
            catch (Exception e)
            {
                error = e;
            }

            Loop.Stop();
        });
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(error, Is.TypeOf<InvalidOperationException>().With.Message.Contains("already running"));
    }

    [Test]
    public void RunOnce_FromCallbackOfRunningLoop_Throws()
    {
        Exception? error = null;
        Loop.AddCallback(() => error = Assert.Catch(() => Loop.RunOnce(TimeSpan.Zero)));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(error, Is.TypeOf<InvalidOperationException>());
    }

    [Test]
    public void Stop_BeforeStart_MakesNextStartReturnAtOnce()
    {
        Loop.Stop();
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(Loop.IsRunning, Is.False);

        // The stop was consumed: the next Start runs until stopped again.
        bool ran = false;
        Loop.AddCallback(() =>
        {
            ran = true;
            Loop.Stop();
        });
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(ran, Is.True);
    }

    [Test]
    public void Stop_FromCallback_FinishesTheBatchThenReturns()
    {
        var ran = new List<int>();
        Loop.AddCallback(() =>
        {
            ran.Add(1);
            Loop.Stop();
        });
        Loop.AddCallback(() => ran.Add(2));
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(ran, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void Stop_FromAnotherThread_WakesAndStopsLoop()
    {
        TimeoutHandle far = Loop.CallLater(TimeSpan.FromHours(1), () => { });
        Loop.AddCallback(() => new Thread(Loop.Stop).Start());
        Fds.RunBounded(Loop.Start, TestTimeout);
        Loop.RemoveTimeout(far);
    }

    [Test]
    public void Close_WhileRunning_Throws()
    {
        Exception? error = null;
        Loop.AddCallback(() =>
        {
            error = Assert.Catch(() => Loop.Close());
            Loop.Stop();
        });
        Fds.RunBounded(Loop.Start, TestTimeout);
        Assert.That(error, Is.TypeOf<InvalidOperationException>());
        Assert.That(Loop.IsClosed, Is.False);
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "Lists /proc/self/fd; on Windows AfdPollerTests checks that Close releases the port and AFD handles")]
    public void Close_ReleasesPollerAndWakerDescriptors_AndIsIdempotent()
    {
        SkipLeakCheck = true;
        var before = new HashSet<string>(Directory.GetFileSystemEntries("/proc/self/fd"));
        IOLoop loop = NewLoop();
        var during = Directory.GetFileSystemEntries("/proc/self/fd").Where(f => !before.Contains(f)).ToList();
        Assert.That(during, Is.Not.Empty, "the loop opened no descriptor (poller or waker)");
        loop.Close();
        loop.Close();
        Assert.That(during.Where(File.Exists), Is.Empty, "descriptors left open after Close");
        Assert.Catch<ObjectDisposedException>(() => loop.AddHandler(0, (_, _) => { }, IOEvents.Read));
        Assert.Catch<ObjectDisposedException>(loop.Start);
    }

    [Test]
    public void AddCallback_AfterClose_IsDroppedSilently()
    {
        SkipLeakCheck = true;
        Loop.Close();
        Assert.DoesNotThrow(() => Loop.AddCallback(() => Assert.Fail("ran after close")));
        IOLoop closed = Loop;
        Exception? error = null;
        var other = new Thread(() =>
        {
            try
            {
                closed.AddCallback(() => { });
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        other.Start();
        Assert.That(other.Join(TestTimeout), Is.True);
        Assert.That(error, Is.Null);
    }

    [Test]
    public void CreateAndClose_OnTwoThreadsAtOnce_NeverFails()
    {
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            try
            {
                for (int i = 0; i < 10; i++)
                {
                    NewLoop().Close();
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.That(t.Join(TestTimeout), Is.True));
        Assert.That(errors, Is.Empty);
    }

    [Test]
    public void Current_NonCurrentLoop_IsCurrentOnlyWhileRunning_Repeatedly()
    {
        IOLoop.ClearCurrent();
        for (int i = 0; i < 3; i++)
        {
            Assert.That(IOLoop.TryGetCurrent(out _), Is.False);
            IOLoop? seen = null;
            Loop.AddCallback(() =>
            {
                seen = IOLoop.Current;
                Loop.Stop();
            });
            Loop.Start();
            Assert.That(seen, Is.SameAs(Loop));
            Assert.That(IOLoop.TryGetCurrent(out _), Is.False);
        }
    }

    [Test]
    public void MakeCurrent_MakesLoopCurrentForThread()
    {
        Loop.MakeCurrent();
        try
        {
            Assert.That(IOLoop.Current, Is.SameAs(Loop));
            Assert.That(IOLoop.TryGetCurrent(out IOLoop? current), Is.True);
            Assert.That(current, Is.SameAs(Loop));
        }
        finally
        {
            IOLoop.ClearCurrent();
        }
    }

    [Test]
    public void Current_WithNoLoop_CreatesAndKeepsOne()
    {
        IOLoop.ClearCurrent();
        IOLoop created = IOLoop.Current;
        try
        {
            Assert.That(IOLoop.Current, Is.SameAs(created));
        }
        finally
        {
            created.Close();
        }

        Assert.That(IOLoop.TryGetCurrent(out _), Is.False, "a closed loop is no longer current");
    }

    [Test]
    public void RunSync_ReturnsTaskResult()
    {
        int result = Loop.RunSync(async () =>
        {
            await Task.Yield();
            return 42;
        }, TestTimeout);
        Assert.That(result, Is.EqualTo(42));
    }

    [Test]
    public void RunSync_FunctionThrowsSynchronously_ExceptionComesOut()
    {
        Assert.Throws<FormatException>(() => Loop.RunSync(() => throw new FormatException("sync"), TestTimeout));
    }

    [Test]
    public void RunSync_TaskFaults_ExceptionComesOutUnwrapped()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Loop.RunSync(async () =>
        {
            await Task.Yield();
            throw new InvalidOperationException("async");
        }, TestTimeout));
        Assert.That(error!.Message, Is.EqualTo("async"));
    }

    [Test]
    public void RunSync_InsideFunction_LoopIsCurrentAndRunning()
    {
        IOLoop? current = null;
        bool running = false;
        Run(() =>
        {
            current = IOLoop.Current;
            running = Loop.IsRunning;
            return Task.CompletedTask;
        });
        Assert.That(current, Is.SameAs(Loop));
        Assert.That(running, Is.True);
    }

    [Test]
    public void RunSync_TaskOutlastsTimeout_ThrowsTimeoutAndCancelsToken()
    {
        CancellationToken seen = default;
        var never = new TaskCompletionSource();
        var error = Assert.Throws<TimeoutException>(() => Loop.RunSync(token =>
        {
            seen = token;
            return never.Task;
        }, TimeSpan.FromMilliseconds(20)));
        Assert.That(error!.Message, Does.Contain("timed out after 0.02 seconds"));
        Assert.That(seen.IsCancellationRequested, Is.True);

        // The late completion must not stop the loop's next run.
        never.SetResult();
        Assert.That(Loop.RunSync(() => Task.FromResult(7), TestTimeout), Is.EqualTo(7));
    }

    [Test]
    public void RunSync_LoopStoppedBeforeTaskCompletes_Throws()
    {
        var never = new TaskCompletionSource();
        var error = Assert.Throws<InvalidOperationException>(() => Loop.RunSync(() =>
        {
            Loop.Stop();
            return never.Task;
        }, TestTimeout));
        Assert.That(error!.Message, Does.Contain("stopped before the task completed"));
    }

    [Test]
    public void RunSync_WhileRunning_Throws()
    {
        Exception? error = null;
        Run(() =>
        {
            error = Assert.Catch(() => Loop.RunSync(() => Task.CompletedTask));
            return Task.CompletedTask;
        });
        Assert.That(error, Is.TypeOf<InvalidOperationException>());
    }

    [Test]
    public void RunSync_AfterStopRequestedWhileIdle_StillRunsTheFunctionOnce()
    {
        int calls = 0;
        Loop.Stop();
        int result = Loop.RunSync(() =>
        {
            calls++;
            return Task.FromResult(calls);
        }, TestTimeout);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(result, Is.EqualTo(1));
        Assert.That(calls, Is.EqualTo(1));
    }
}
