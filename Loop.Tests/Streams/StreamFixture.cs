using System.Net;
using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Streams;

public enum StreamKind
{
    Plain,
    Tls,
}

/// <summary>
/// Base of the stream tests: a fresh loop per test, stream pairs over loopback TCP (plain, or
/// TLS with the test CA), and a teardown that closes what the test left open, runs the close
/// callbacks, and then checks that no handler, timer, callback or descriptor is left behind.
/// </summary>
public abstract class StreamFixture(PollerBackend backend, StreamKind kind)
{
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    private readonly List<global::Loop.IOStream> _streams = [];

    protected PollerBackend Backend { get; } = backend;

    protected StreamKind Kind { get; } = kind;

    protected IOLoop Loop { get; private set; } = null!;

    protected TestLog Log { get; private set; } = null!;

    /// <summary>
    /// Under Wine the TLS form of a fixture is skipped whole, before any test: the test
    /// certificates cannot be made there (see <see cref="TestCertificates"/>), and an exception
    /// that ends a test from inside the loop leaves Wine's process unable to run the next one.
    /// </summary>
    [OneTimeSetUp]
    public void SkipTlsUnderWine()
    {
        if (Kind == StreamKind.Tls && Wine.IsRunning)
        {
            Assert.Ignore("Wine 8 cannot make the test certificates: ECDsa.Create(nistP256) fails with NTE_NOT_SUPPORTED (0x80090029)");
        }
    }

    [SetUp]
    public void CreateLoop()
    {
        Log = new TestLog();
        Loop = new IOLoop(new IOLoopOptions { Backend = Backend, LoggerFactory = Log });
        _streams.Clear();
    }

    [TearDown]
    public void CloseStreamsAndCheck()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            // What each stream was waiting for, before the teardown closes them.
            foreach (global::Loop.IOStream stream in _streams)
            {
                TestContext.Out.WriteLine($"{stream.GetType().Name}: {stream.DescribeState()}");
            }

            // Streams the test never got hold of (a handshake that did not finish) are still watched.
            foreach ((int fd, IOHandler handler, IOEvents events) in Loop.EnumerateHandlers())
            {
                string what = handler.Target is global::Loop.IOStream stream && !_streams.Contains(stream) ? $"untracked {stream.GetType().Name}: {stream.DescribeState()}" : handler.Method.Name;
                TestContext.Out.WriteLine($"watched fd {fd} for {events}: {what}");
            }
        }

        foreach (global::Loop.IOStream stream in _streams)
        {
            stream.Close();
        }

        // Close callbacks and the continuations they release run as loop callbacks.
        for (int i = 0; i < 10 && Loop.PendingCallbackCount > 0; i++)
        {
            Loop.RunOnce(TimeSpan.Zero);
        }

        try
        {
            LoopChecks.AssertCleanAndClose(Loop, Log, skipLeakCheck: false);
        }
        finally
        {
            Loop.Dispose();
            Log.Dispose();
        }

        // Descriptor numbers are reused at once by anything else in the process (the runtime's
        // own socket engine, servers of other tests), so check the handles, not the numbers.
        foreach (global::Loop.IOStream stream in _streams)
        {
            Assert.That(stream.Socket.SafeHandle.IsClosed, Is.True, $"the socket of stream fd {stream.FileDescriptor} was not closed");
        }
    }

    protected void Run(Func<Task> body) => Loop.RunSync(body, TestTimeout);

    protected T Track<T>(T stream)
        where T : global::Loop.IOStream
    {
        _streams.Add(stream);
        return stream;
    }

    /// <summary>Two connected streams of the fixture's kind; the server side holds the server certificate.</summary>
    protected async Task<(global::Loop.IOStream Client, global::Loop.IOStream Server)> MakePairAsync(IOStreamOptions? clientOptions = null, IOStreamOptions? serverOptions = null)
    {
        var pair = SocketPair.Create();
        if (Kind == StreamKind.Plain)
        {
            return (Track(new global::Loop.IOStream(pair.Left, clientOptions, Loop)), Track(new global::Loop.IOStream(pair.Right, serverOptions, Loop)));
        }

        SslIOStream client = Track(new SslIOStream(pair.Left, clientOptions, Loop));
        SslIOStream server = Track(new SslIOStream(pair.Right, serverOptions, Loop));
        await Task.WhenAll(
            server.AuthenticateAsServerAsync(TestCertificates.ServerOptions()).AsTask(),
            client.AuthenticateAsClientAsync(TestCertificates.TrustingClient()).AsTask());
        return (client, server);
    }

    /// <summary>A listening socket on 127.0.0.1 (disposed by the caller).</summary>
    protected static Socket Listen(int backlog = 16, AddressFamily family = AddressFamily.InterNetwork)
    {
        var listener = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback, 0));
        listener.Listen(backlog);
        return listener;
    }

    /// <summary>A port on 127.0.0.1 that refuses connections (bound, not listening).</summary>
    protected static (Socket Holder, int Port) RefusingPort()
    {
        var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (holder, ((IPEndPoint)holder.LocalEndPoint!).Port);
    }

    protected static byte[] Bytes(string text) => System.Text.Encoding.ASCII.GetBytes(text);

    protected static string Text(byte[] bytes) => System.Text.Encoding.ASCII.GetString(bytes);
}
