using Loop.Tests.Core;
using Loop.Tests.Support;

namespace Loop.Tests.Diagnostics;

/// <summary>The Loop.IOLoop meter: what the loop ran, reported per iteration while someone listens.</summary>
public sealed class LoopTelemetryTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void Iterations_WithMeterListener_CountCallbacksTimersAndHandlerCalls()
    {
        using var metrics = new MetricCollector(IOLoop.MeterName);
        using var pair = SocketPair.Create();
        Run(async () =>
        {
            for (int i = 0; i < 5; i++)
            {
                Loop.AddCallback(static () => { });
            }

            var timer = new TaskCompletionSource();
            Loop.CallLater(TimeSpan.FromMilliseconds(1), () => timer.SetResult());
            await timer.Task;

            var readable = new TaskCompletionSource();
            Loop.AddHandler((int)pair.Left.Handle, (_, _) =>
            {
                Loop.RemoveHandler((int)pair.Left.Handle);
                readable.TrySetResult();
            }, IOEvents.Read);
            pair.Right.Send(new byte[1]);
            await readable.Task;
        });

        Assert.Multiple(() =>
        {
            Assert.That(metrics.Of("loop.callbacks").Sum(m => m.Value), Is.GreaterThanOrEqualTo(5));
            Assert.That(metrics.Of("loop.timers.fired").Sum(m => m.Value), Is.GreaterThanOrEqualTo(1));
            Assert.That(metrics.Of("loop.handler.dispatches").Sum(m => m.Value), Is.GreaterThanOrEqualTo(1));
            Assert.That(metrics.Of("loop.iteration.duration"), Is.Not.Empty);
            Assert.That(metrics.Of("loop.iteration.duration").Select(m => m.Value), Is.All.GreaterThanOrEqualTo(0).And.All.LessThan(10));
        });
    }

    [Test]
    public void IdleWait_IsLeftOutOfTheIterationDuration()
    {
        using var metrics = new MetricCollector(IOLoop.MeterName);
        Run(async () =>
        {
            // One iteration that sleeps about 200 ms in the poller and does almost nothing else.
            var fired = new TaskCompletionSource();
            Loop.CallLater(TimeSpan.FromMilliseconds(200), () => fired.SetResult());
            await fired.Task;
        });

        Assert.That(metrics.Of("loop.iteration.duration").Max(m => m.Value), Is.LessThan(0.15), "the wait for the timer is not busy time");
    }
}
