using Loop.Tests.Support;

namespace Loop.Tests.Core;

/// <summary>
/// Base of the loop tests: every test runs once per backend of this OS (epoll and poll on
/// Linux, kqueue and poll on macOS and the BSDs, IOCP on Windows: <see cref="TestBackends.Loop"/>), gets a fresh loop with a capturing log, and at teardown must have left no
/// handler, timer or callback behind and no unexpected warning or error in the log. The loop's
/// own descriptors must be closed afterwards (libuv's MAKE_VALGRIND_HAPPY).
/// </summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.Loop))]
public abstract class LoopFixture(PollerBackend backend)
{
    /// <summary>The bound every test puts on a loop run.</summary>
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(10);

    protected PollerBackend Backend { get; } = backend;

    protected IOLoop Loop { get; private set; } = null!;

    protected TestLog Log { get; private set; } = null!;

    /// <summary>Set by a test that closes the loop itself or leaves things registered on purpose.</summary>
    protected bool SkipLeakCheck { get; set; }

    [SetUp]
    public void CreateLoop()
    {
        Log = new TestLog();
        Loop = NewLoop();
        SkipLeakCheck = false;
    }

    [TearDown]
    public void CheckAndCloseLoop()
    {
        try
        {
            LoopChecks.AssertCleanAndClose(Loop, Log, SkipLeakCheck);
        }
        finally
        {
            Loop.Dispose();
            Log.Dispose();
        }
    }

    protected IOLoop NewLoop(bool forcePipeWaker = false) =>
        new(new IOLoopOptions { Backend = Backend, LoggerFactory = Log, ForcePipeWaker = forcePipeWaker });

    /// <summary>Runs an async test body on the loop with the test timeout.</summary>
    protected void Run(Func<Task> body) => Loop.RunSync(body, TestTimeout);

    protected T Run<T>(Func<Task<T>> body) => Loop.RunSync(body, TestTimeout);
}
