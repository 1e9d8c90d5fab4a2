using Microsoft.Extensions.Logging;

namespace Loop.Tests.Support;

/// <summary>
/// A loop per test whose log keeps Information and above only (the curl client logs every
/// protocol line at Debug and turns each transfer verbose then, which long runs and allocation
/// counts must not measure); checked for leaks and closed after each test.
/// </summary>
public abstract class QuietLoopFixture
{
    /// <summary>The test's loop.</summary>
    protected IOLoop Loop { get; private set; } = null!;

    /// <summary>The entries at Information and above.</summary>
    protected TestLog Log { get; private set; } = null!;

    [SetUp]
    public void CreateLoop()
    {
        Log = new TestLog();
        Loop = new IOLoop(new IOLoopOptions { LoggerFactory = new LevelFilter(Log, LogLevel.Information) });
    }

    [TearDown]
    public void CheckAndClose()
    {
        try
        {
            LoopChecks.AssertCleanAndClose(Loop, Log, skipLeakCheck: false);
        }
        finally
        {
            Loop.Dispose();
            Log.Dispose();
        }
    }
}
