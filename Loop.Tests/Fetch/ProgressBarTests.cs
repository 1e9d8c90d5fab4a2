using Loop.Fetch;

namespace Loop.Tests.Fetch;

/// <summary>The fetcher's progress line as a unit: byte counts and times in, text out.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[CancelAfter(10_000)]
public sealed class ProgressBarTests
{
    private const long MiB = 1024 * 1024;

    [Test]
    public void Render_KnownLength_ShowsShareBarBytesRateAndEta()
    {
        string line = ProgressBar.Render(50 * MiB, 100 * MiB, TimeSpan.FromSeconds(10));

        Assert.That(line, Is.EqualTo(" 50% [##########..........] 50.0 MiB / 100.0 MiB  5.0 MiB/s  ETA 0:10"));
    }

    [Test]
    public void Render_UnknownLength_ShowsBytesAndRateOnly()
    {
        string line = ProgressBar.Render(3 * MiB / 2, null, TimeSpan.FromSeconds(2));

        Assert.That(line, Is.EqualTo("1.5 MiB  768.0 KiB/s"));
    }

    [Test]
    public void Render_NothingYet_NoEtaAndAnEmptyBar()
    {
        string line = ProgressBar.Render(0, 1000, TimeSpan.Zero);

        Assert.That(line, Is.EqualTo("  0% [....................] 0 B / 1000 B  0 B/s"));
    }

    [Test]
    public void Render_MoreThanAnnounced_StopsAtAHundredPercentWithoutEta()
    {
        string line = ProgressBar.Render(1500, 1000, TimeSpan.FromSeconds(1));

        Assert.That(line, Is.EqualTo("100% [####################] 1.5 KiB / 1000 B  1.5 KiB/s"));
    }

    [Test]
    public void Render_SeveralUrls_SaysHowManyAreDone()
    {
        string line = ProgressBar.Render(2048, null, TimeSpan.FromSeconds(1), finished: 1, count: 3);

        Assert.That(line, Is.EqualTo("2.0 KiB  2.0 KiB/s  1/3 done"));
    }

    [Test]
    public void Render_SlowLargeTransfer_EtaInHours()
    {
        string line = ProgressBar.Render(MiB, 10_000 * MiB, TimeSpan.FromSeconds(1));

        Assert.That(line, Does.EndWith("ETA 2:46:39"));
        Assert.That(line, Has.Length.LessThan(80));
    }

    [TestCase(0L, "0 B")]
    [TestCase(1023L, "1023 B")]
    [TestCase(1024L, "1.0 KiB")]
    [TestCase(1536L * 1024, "1.5 MiB")]
    [TestCase(2L * 1024 * 1024 * 1024, "2.0 GiB")]
    [TestCase(5L * 1024 * 1024 * 1024 * 1024, "5.0 TiB")]
    public void Size_PicksTheUnit(long bytes, string text) => Assert.That(ProgressBar.Size(bytes), Is.EqualTo(text));

    [TestCase(0.2, "0:01")]
    [TestCase(59.0, "0:59")]
    [TestCase(61.0, "1:01")]
    [TestCase(3600.0, "1:00:00")]
    [TestCase(1e12, "99:59:59")]
    public void Duration_MinutesThenHours(double seconds, string text) => Assert.That(ProgressBar.Duration(seconds), Is.EqualTo(text));
}
