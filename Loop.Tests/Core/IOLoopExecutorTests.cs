namespace Loop.Tests.Core;

public sealed class IOLoopExecutorTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void RunInExecutor_TwoBlockingFunctions_RunConcurrentlyAndReturnInOrder()
    {
        // Each function releases the other and then waits for it: run one after the other,
        // they would deadlock (bounded here by the waits' timeout, which makes them return false).
        using var first = new ManualResetEventSlim();
        using var second = new ManualResetEventSlim();
        bool[] results = Run(async () =>
        {
            Task<bool> a = Loop.RunInExecutor(() =>
            {
                first.Set();
                return second.Wait(TestTimeout);
            });
            Task<bool> b = Loop.RunInExecutor(() =>
            {
                second.Set();
                return first.Wait(TestTimeout);
            });
            return await Task.WhenAll(a, b);
        });
        Assert.That(results, Is.EqualTo(new[] { true, true }));
    }

    [Test]
    public void RunInExecutor_ResultTaskCompletesOnLoopThread()
    {
        var threads = Run(async () =>
        {
            int loop = Environment.CurrentManagedThreadId;
            int worker = await Loop.RunInExecutor(() => Environment.CurrentManagedThreadId);
            return (loop, worker, after: Environment.CurrentManagedThreadId);
        });
        Assert.That(threads.worker, Is.Not.EqualTo(threads.loop));
        Assert.That(threads.after, Is.EqualTo(threads.loop));
    }

    [Test]
    public void RunInExecutor_FunctionThrows_TaskFaultsWithThatException()
    {
        Assert.Throws<FormatException>(() => Run(() => Loop.RunInExecutor(() => throw new FormatException("worker"))));
    }

    [Test]
    public void DefaultExecutor_WhenSet_ReceivesTheWork()
    {
        var executor = new CountingScheduler();
        Loop.DefaultExecutor = executor;
        int result = Run(() => Loop.RunInExecutor(() => 5));
        Assert.That(result, Is.EqualTo(5));
        Assert.That(executor.Queued, Is.EqualTo(1));
    }

    private sealed class CountingScheduler : TaskScheduler
    {
        public int Queued;

        protected override IEnumerable<Task> GetScheduledTasks() => [];

        protected override void QueueTask(Task task)
        {
            Interlocked.Increment(ref Queued);
            ThreadPool.UnsafeQueueUserWorkItem(_ => TryExecuteTask(task), null);
        }

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;
    }
}
