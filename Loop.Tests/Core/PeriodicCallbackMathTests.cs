namespace Loop.Tests.Core;

/// <summary>
/// The schedule arithmetic of PeriodicCallback, on a simulated clock (Tornado's
/// TestPeriodicCallbackMath): each call takes the given duration, and the test records when
/// each call was due.
/// </summary>
[TestFixture]
public sealed class PeriodicCallbackMathTests
{
    [Test]
    public void Schedule_CallsFallOnThePeriodGrid()
    {
        var pc = new PeriodicCallback(() => { }, TimeSpan.FromMilliseconds(10_000));
        Assert.That(SimulateCalls(pc, [0, 0, 0, 0, 0]), Is.EqualTo(new double[] { 1010, 1020, 1030, 1040, 1050 }));
    }

    [Test]
    public void Schedule_OverrunningCall_SkipsMissedPeriodsInsteadOfBursting()
    {
        var pc = new PeriodicCallback(() => { }, TimeSpan.FromMilliseconds(10_000));
        double[] durations = [9, 9, 10, 11, 20, 20, 35, 35, 0, 0, 0];
        double[] expected = [1010, 1020, 1030, 1050, 1070, 1100, 1130, 1170, 1210, 1220, 1230];
        Assert.That(SimulateCalls(pc, durations), Is.EqualTo(expected));
    }

    [Test]
    public void Schedule_ClockGoingBackwards_StillAdvancesOnePeriod()
    {
        var pc = new PeriodicCallback(() => { }, TimeSpan.FromMilliseconds(10_000));
        Assert.That(SimulateCalls(pc, [-2, -1, -3, -2, 0]), Is.EqualTo(new double[] { 1010, 1020, 1030, 1040, 1050 }));
        Assert.That(SimulateCalls(pc, [-100, 0, 0]), Is.EqualTo(new double[] { 1010, 1020, 1030 }));
    }

    [Test]
    public void Schedule_WithJitter_ScalesEachPeriodByRandomFactor()
    {
        var pc = new PeriodicCallback(() => { }, TimeSpan.FromMilliseconds(10_000), jitter: 0.5);
        var randoms = new Queue<double>([0.5, 1, 0, 0.75]);
        pc.Random = () => randoms.Dequeue();
        Assert.That(SimulateCalls(pc, [0, 0, 0, 0]), Is.EqualTo(new double[] { 1010, 1022.5, 1030, 1041.25 }));
    }

    [Test]
    public void Period_GivenAsTimeSpan_IsKeptExactly()
    {
        var pc = new PeriodicCallback(() => { }, new TimeSpan(0, 1, 23));
        Assert.That(pc.Period.TotalMilliseconds, Is.EqualTo(83_000));
    }

    [TestCase(0)]
    [TestCase(-5)]
    public void Constructor_NonPositivePeriod_Throws(int milliseconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PeriodicCallback(() => { }, TimeSpan.FromMilliseconds(milliseconds)));
    }

    [TestCase(-0.1)]
    [TestCase(1.5)]
    [TestCase(double.NaN)]
    public void Constructor_JitterOutsideZeroToOne_Throws(double jitter)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PeriodicCallback(() => { }, TimeSpan.FromSeconds(1), jitter));
    }

    private static List<double> SimulateCalls(PeriodicCallback pc, double[] durations)
    {
        var calls = new List<double>();
        double now = 1000;
        pc.NextTimeout = now;
        foreach (double duration in durations)
        {
            pc.UpdateNext(now);
            calls.Add(pc.NextTimeout);
            now = pc.NextTimeout + duration;
        }

        return calls;
    }
}
