using Microsoft.Extensions.Logging;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// Base of the HTTP client tests: a fresh loop and client per test (of the implementation the
/// fixture is instantiated with), the shared Kestrel, and a teardown that closes the clients and
/// checks that no handler, timer, callback or descriptor is left behind.
/// </summary>
public abstract class HttpClientFixture(Type clientType, PollerBackend backend = PollerBackend.Auto)
{
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private readonly List<AsyncHttpClient> _clients = [];

    protected Type ClientType { get; } = clientType;

    protected IOLoop Loop { get; private set; } = null!;

    protected TestLog Log { get; private set; } = null!;

    protected AsyncHttpClient Client { get; private set; } = null!;

    protected static TestHttpServer Server => TestHttpServer.Shared;

    /// <summary>
    /// The lowest level the clients log at: everything by default (the per-request Debug events
    /// included, so the suite runs the observed path); the allocation fixtures raise it to
    /// Information, which is what a request costs when no one observes it.
    /// </summary>
    protected virtual LogLevel MinimumLogLevel => LogLevel.Trace;

    [SetUp]
    public void CreateLoopAndClient()
    {
        Log = new TestLog();
        ILoggerFactory factory = MinimumLogLevel == LogLevel.Trace ? Log : new LevelFilter(Log, MinimumLogLevel);
        Loop = new IOLoop(new IOLoopOptions { LoggerFactory = factory, Backend = backend });
        _clients.Clear();
        Client = CreateClient();
    }

    [TearDown]
    public void CloseAndCheck()
    {
        foreach (AsyncHttpClient client in _clients)
        {
            client.Close();
        }

        // Close callbacks of the pooled connections run as loop callbacks.
        for (int i = 0; i < 10 && Loop.PendingCallbackCount > 0; i++)
        {
            Loop.RunOnce(TimeSpan.Zero);
        }

        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            foreach ((int fd, IOHandler handler, IOEvents events) in Loop.EnumerateHandlers())
            {
                string what = handler.Target is global::Loop.IOStream stream ? $"{stream.GetType().Name}: {stream.DescribeState()}" : handler.Method.Name;
                TestContext.Out.WriteLine($"watched fd {fd} for {events}: {what}");
            }
        }

        try
        {
            LoopChecks.AssertCleanAndClose(Loop, Log, skipLeakCheck: false);
        }
        finally
        {
            Client.Dispose();
            Loop.Dispose();
            Log.Dispose();
        }
    }

    /// <summary>A client of the fixture's implementation (forced, not the per-loop one), closed by the teardown.</summary>
    protected AsyncHttpClient CreateClient(AsyncHttpClientSettings? settings = null)
    {
        var client = (AsyncHttpClient)Activator.CreateInstance(ClientType, Loop, settings ?? new AsyncHttpClientSettings())!;
        _clients.Add(client);
        return client;
    }

    protected void Run(Func<Task> body) => Loop.RunSync(body, TestTimeout);

    /// <summary>Tornado's test helper: fetch a path of the shared server without raising for the status.</summary>
    protected Task<HttpResponse> FetchAsync(string path, HttpRequest? template = null) =>
        Client.FetchAsync(template is null ? new HttpRequest(Server.Url(path)) : template with { Url = Server.Url(path) }, raiseError: false);

    protected static string Text(HttpResponse response) => System.Text.Encoding.UTF8.GetString(response.Body);
}
