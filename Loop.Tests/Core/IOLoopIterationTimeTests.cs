namespace Loop.Tests.Core;

/// <summary>The clock the loop reads once per phase of an iteration (IterationTime, IterationCount), and TimeOf.</summary>
public sealed class IOLoopIterationTimeTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void IterationTime_InACallback_IsSetStableAndNotLaterThanTime()
    {
        double first = 0, second = 0, clock = 0;
        long firstCount = 0, secondCount = 0;
        Loop.AddCallback(() =>
        {
            first = Loop.IterationTime;
            firstCount = Loop.IterationCount;
            clock = Loop.Time();
            second = Loop.IterationTime;
            secondCount = Loop.IterationCount;
        });
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(first, Is.GreaterThan(0), "the first iteration of a new loop already has a time");
        Assert.That(second, Is.EqualTo(first));
        Assert.That(secondCount, Is.EqualTo(firstCount));
        Assert.That(first, Is.LessThanOrEqualTo(clock));
    }

    [Test]
    public void IterationCount_AcrossIterations_Grows()
    {
        long start = Loop.IterationCount;
        Loop.RunOnce(TimeSpan.Zero);
        long afterOne = Loop.IterationCount;
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(afterOne, Is.GreaterThan(start));
        Assert.That(Loop.IterationCount, Is.GreaterThan(afterOne));
    }

    [Test]
    public void IterationTime_InATimer_IsAtOrPastItsDeadline()
    {
        double deadline = Loop.Time() + 0.005;
        double seen = 0;
        bool ran = false;
        Loop.CallAt(deadline, () =>
        {
            seen = Loop.IterationTime;
            ran = true;
        });
        for (int i = 0; i < 100 && !ran; i++)
        {
            Loop.RunOnce(TestTimeout);
        }

        Assert.That(ran, Is.True);
        Assert.That(seen, Is.GreaterThanOrEqualTo(deadline));
    }

    [Test]
    public void TimeOf_AStopwatchReading_IsTheLoopTimeOfThatMoment()
    {
        double before = Loop.Time();
        long reading = System.Diagnostics.Stopwatch.GetTimestamp();
        double after = Loop.Time();
        double time = IOLoop.TimeOf(reading);
        Assert.That(time, Is.InRange(before, after));

        // A deadline made from the reading fires as one made from Time() would.
        double deadline = IOLoop.TimeOf(reading) + 0.005;
        double seen = 0;
        Loop.CallAt(deadline, () => seen = Loop.Time());
        for (int i = 0; i < 100 && seen == 0; i++)
        {
            Loop.RunOnce(TestTimeout);
        }

        Assert.That(seen, Is.GreaterThanOrEqualTo(deadline));
        Assert.That(System.Diagnostics.Stopwatch.GetElapsedTime(reading).TotalSeconds, Is.GreaterThanOrEqualTo(0.005));
    }
}
