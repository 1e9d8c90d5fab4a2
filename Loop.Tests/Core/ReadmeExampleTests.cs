namespace Loop.Tests.Core;

/// <summary>The README's quick start, kept compiling and true.</summary>
[TestFixture]
public sealed class ReadmeExampleTests
{
    [Test]
    public void QuickStart_RunSyncWithTimerAndExecutor_ReturnsHostName()
    {
        using var loop = new IOLoop();
        string answer = loop.RunSync(async () =>
        {
            var done = new TaskCompletionSource();
            loop.CallLater(TimeSpan.FromMilliseconds(50), () => done.SetResult());
            await done.Task;
            return await loop.RunInExecutor(() => System.Net.Dns.GetHostName());
        }, timeout: TimeSpan.FromSeconds(5));
        Assert.That(answer, Is.EqualTo(System.Net.Dns.GetHostName()));
    }
}
