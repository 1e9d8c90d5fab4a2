namespace Loop.Tests.Core;

/// <summary>While the loop runs, await on the loop thread resumes on the loop thread.</summary>
public sealed class SynchronizationContextTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void Await_TaskYield_ResumesOnLoopThread()
    {
        var threads = Run(async () =>
        {
            int before = Environment.CurrentManagedThreadId;
            await Task.Yield();
            return (before, after: Environment.CurrentManagedThreadId);
        });
        Assert.That(threads.after, Is.EqualTo(threads.before));
    }

    [Test]
    public void Await_TaskCompletedOnThreadPool_ResumesOnLoopThread()
    {
        var threads = Run(async () =>
        {
            int loop = Environment.CurrentManagedThreadId;
            int worker = await Task.Run(() => Environment.CurrentManagedThreadId);
            var fromPool = new TaskCompletionSource();
            ThreadPool.QueueUserWorkItem(_ => fromPool.SetResult());
            await fromPool.Task;
            return (loop, worker, after: Environment.CurrentManagedThreadId);
        });
        Assert.That(threads.worker, Is.Not.EqualTo(threads.loop));
        Assert.That(threads.after, Is.EqualTo(threads.loop));
    }

    [Test]
    public void Current_WhileRunning_IsLoopContext_AndRestoredAfter()
    {
        SynchronizationContext? before = SynchronizationContext.Current;
        SynchronizationContext? inside = Run(() => Task.FromResult(SynchronizationContext.Current));
        Assert.That(inside, Is.SameAs(Loop.SynchronizationContext));
        Assert.That(SynchronizationContext.Current, Is.SameAs(before));
    }

    [Test]
    public void Send_FromAnotherThread_RunsOnLoopAndWaits()
    {
        int loopThread = 0;
        int sentOn = -1;
        Run(async () =>
        {
            loopThread = Environment.CurrentManagedThreadId;
            SynchronizationContext context = SynchronizationContext.Current!;
            await Task.Run(() => context.Send(_ => sentOn = Environment.CurrentManagedThreadId, null));
        });
        Assert.That(sentOn, Is.EqualTo(loopThread));
    }

    [Test]
    public void Send_OnLoopThread_RunsInline()
    {
        bool ran = false;
        Run(() =>
        {
            SynchronizationContext.Current!.Send(_ => ran = true, null);
            Assert.That(ran, Is.True);
            return Task.CompletedTask;
        });
        Assert.That(ran, Is.True);
    }

    [Test]
    public void AsyncVoid_Throws_IsLoggedByLoop()
    {
        Run(async () =>
        {
            FireAndForget();
            while (Log.Entries.Count == 0)
            {
                await Task.Yield();
            }
        });
        Assert.That(Log.Expect(eventId: 1)[0].Exception!.Message, Is.EqualTo("async void boom"));
    }

    // async void on purpose: the behaviour under test is what happens when one fails.
    private static async void FireAndForget()
    {
        await Task.Yield();
        throw new InvalidOperationException("async void boom");
    }
}
