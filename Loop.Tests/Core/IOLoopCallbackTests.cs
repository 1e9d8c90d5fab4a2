namespace Loop.Tests.Core;

public sealed class IOLoopCallbackTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void AddCallback_FromTimeoutCallback_RunsNextIterationWithoutWaitingForPoll()
    {
        // A far timer keeps the poller's wait long: if the callback waited for poll to time out,
        // RunSync's bound would fire first.
        TimeoutHandle far = Loop.CallLater(TimeSpan.FromHours(1), () => { });
        bool ran = false;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Loop.CallLater(TimeSpan.Zero, () => Loop.AddCallback(() =>
            {
                ran = true;
                done.SetResult();
            }));
            await done.Task;
        });
        Loop.RemoveTimeout(far);
        Assert.That(ran, Is.True);
    }

    [Test]
    public void AddCallback_FromAnotherThread_WakesLoopBlockedInPoll()
    {
        TimeoutHandle far = Loop.CallLater(TimeSpan.FromHours(1), () => { });
        int loopThread = 0;
        int callbackThread = -1;
        Loop.AddCallback(() =>
        {
            loopThread = Environment.CurrentManagedThreadId;

            // The loop is about to block in poll (nothing else is queued) when this thread starts.
            new Thread(() => Loop.AddCallback(() =>
            {
                callbackThread = Environment.CurrentManagedThreadId;
                Loop.Stop();
            })).Start();
        });
        Fds_RunBounded(Loop.Start);
        Loop.RemoveTimeout(far);
        Assert.That(callbackThread, Is.EqualTo(loopThread));
    }

    [Test]
    public void AddCallback_AddedDuringCallback_RunsInNextIteration()
    {
        var order = new List<string>();
        Loop.AddCallback(() =>
        {
            order.Add("first");
            Loop.AddCallback(() => order.Add("added by first"));
        });
        Loop.AddCallback(() => order.Add("second"));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(order, Is.EqualTo(new[] { "first", "second" }));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(order, Is.EqualTo(new[] { "first", "second", "added by first" }));
    }

    [Test]
    public void AddCallback_WithState_PassesStateToStaticCallback()
    {
        object state = new();
        var box = new object?[] { state, null };
        Loop.AddCallback(static s => ((object?[])s!)[1] = ((object?[])s!)[0], box);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(box[1], Is.SameAs(state));
    }

    [Test]
    public void AddCallback_CallbackThrows_IsLoggedAndLoopGoesOn()
    {
        bool after = false;
        Loop.AddCallback(() => throw new InvalidOperationException("boom"));
        Loop.AddCallback(() => after = true);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(after, Is.True);
        var logged = Log.Expect(eventId: 1);
        Assert.That(logged[0].Exception, Is.TypeOf<InvalidOperationException>().With.Message.EqualTo("boom"));
        Assert.That(logged[0].Message, Does.Contain("Exception in callback"));
    }

    [Test]
    public void AddCallback_AsyncCallbackFaults_IsLogged()
    {
        Run(async () =>
        {
            Loop.AddCallback(async () =>
            {
                await Task.Yield();
                throw new InvalidOperationException("async boom");
            });
            Loop.AddCallback(() => Task.FromException(new ArgumentException("returned faulted")));
            while (Log.Entries.Count < 2)
            {
                await Task.Yield();
            }
        });
        var logged = Log.Expect(eventId: 3, atLeast: 2);
        Assert.That(logged.Select(e => e.Exception!.Message), Is.EquivalentTo(new[] { "async boom", "returned faulted" }));
    }

    [Test]
    public void SpawnCallback_BehavesLikeAddCallback_ErrorsLoggedAndLoopGoesOn()
    {
        int ran = 0;
        Run(async () =>
        {
            Loop.SpawnCallback(() => throw new InvalidOperationException("sync throw in spawn"));
            Loop.SpawnCallback(async () =>
            {
                await Task.Yield();
                ran++;
            });
            Loop.AddCallback(() => ran++);
            while (ran < 2)
            {
                await Task.Yield();
            }
        });
        Assert.That(ran, Is.EqualTo(2));
        Log.Expect(eventId: 1);
    }

    [Test]
    public void AddCallback_RacingWithCloseOnAnotherThread_NeverThrows()
    {
        SkipLeakCheck = true;
        using var ready = new ManualResetEventSlim();
        Exception? failure = null;
        var adder = new Thread(() =>
        {
            ready.Set();
            try
            {
                for (int i = 0; i < 1000; i++)
                {
                    Loop.AddCallback(static () => { });
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        adder.Start();
        ready.Wait(TestTimeout);
        Loop.Close();
        Assert.That(adder.Join(TestTimeout), Is.True);
        Assert.That(failure, Is.Null);
    }

    [Test]
    public void AddFuture_ThreadPoolTask_CallbackRunsOnLoopWithCompletedTask()
    {
        int loopThread = 0;
        int callbackThread = -1;
        Task? seen = null;
        Run(async () =>
        {
            loopThread = Environment.CurrentManagedThreadId;
            var done = new TaskCompletionSource();
            Task work = Task.Run(() => Thread.Yield());
            Loop.AddFuture(work, t =>
            {
                callbackThread = Environment.CurrentManagedThreadId;
                seen = t;
                done.SetResult();
            });
            await done.Task;
        });
        Assert.That(callbackThread, Is.EqualTo(loopThread));
        Assert.That(seen!.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void AddFuture_AlreadyCompletedTask_CallbackRunsInLaterIterationNotInline()
    {
        bool ran = false;
        Loop.AddCallback(() =>
        {
            Loop.AddFuture(Task.CompletedTask, _ => ran = true);
            Assert.That(ran, Is.False, "AddFuture ran its callback inline");
        });
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.False);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.True);
    }

    [Test]
    public void RunOnce_LeavesCallbacksQueuedOnBothQueues_AllRunOnceInTheNextTick()
    {
        var ran = new List<string>();
        Loop.AddCallback(() =>
        {
            Loop.AddCallback(() => ran.Add("loop thread"));
            var other = new Thread(() => Loop.AddCallback(() => ran.Add("other thread")));
            other.Start();
            other.Join();
        });
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.Empty);
        Assert.That(Loop.PendingCallbackCount, Is.EqualTo(2));
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(ran, Is.EquivalentTo(new[] { "loop thread", "other thread" }));
    }

    [Test]
    public void RunOnce_LeavesLoopThreadCallbacksQueued_ThreadTheLoopIsHandedToRunsThem()
    {
        bool ran = false;
        Loop.AddCallback(() => Loop.AddCallback(() => ran = true));
        Loop.RunOnce(TimeSpan.Zero);
        Loop.DetachCurrentThread();
        Support.Fds.RunBounded(() => Loop.RunOnce(TimeSpan.Zero), TestTimeout);
        Assert.That(ran, Is.True);
    }

    private static void Fds_RunBounded(Action action) => Support.Fds.RunBounded(action, TestTimeout);
}
