using System.Net;
using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Streams;

/// <summary>Connecting (IOStream.ConnectAsync, TcpConnector) and TLS verification (iostream_test.py TestIOStreamMixin, StartTLS, CheckHostname).</summary>
[TestFixtureSource(typeof(TestBackends), nameof(TestBackends.NativePlainStreams))]
public sealed class ConnectAndTlsTests(PollerBackend backend, StreamKind kind) : StreamFixture(backend, kind)
{
    /// <summary>Tests that need the test certificates (TLS servers, trusted or untrusted chains).</summary>
    private const string CertificatesCategory = "Certificates";

    /// <summary>
    /// Under Wine the tests that need certificates are skipped before they start: Wine 8 cannot
    /// make them (see <see cref="TestCertificates"/>), and a test ended from inside the loop by
    /// that failure leaves Wine's process unable to run the next test.
    /// </summary>
    [SetUp]
    public void SkipCertificateTestsUnderWine()
    {
        // The method's own attributes: a test case of a parameterized method carries no category itself.
        if (Wine.IsRunning && TestContext.CurrentContext.Test.Method?.GetCustomAttributes<CategoryAttribute>(true).Any(c => c.Name == CertificatesCategory) == true)
        {
            Assert.Ignore("Wine 8 cannot make the test certificates: ECDsa.Create(nistP256) fails with NTE_NOT_SUPPORTED (0x80090029)");
        }
    }

    [Test]
    public void ConnectAsync_RefusedPort_FailsWithStreamClosedAndRunsCloseCallback() => Run(async () =>
    {
        (Socket holder, int port) = RefusingPort();
        using (holder)
        {
            global::Loop.IOStream stream = Track(new global::Loop.IOStream(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), loop: Loop));
            var closed = new TaskCompletionSource();
            stream.SetCloseCallback(closed.SetResult);
            StreamClosedException error = await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await stream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)));
            Assert.That(error.InnerException, Is.TypeOf<SocketException>().With.Property("SocketErrorCode").EqualTo(SocketError.ConnectionRefused));
            Assert.That(stream.Error, Is.SameAs(error.InnerException));
            await closed.Task;
        }
    });

    [Test]
    public void ConnectAsync_OverLoopbackOnLinux_IsUsuallyDoneWhenItReturns() => Run(async () =>
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("Linux only: elsewhere a connect in progress always waits for the writable event.");
        }

        // Linux finishes a loopback handshake inside connect(2), which still says "in progress":
        // the stream sees that (getpeername) and goes on without a trip through the poller. The
        // kernel may put the handshake off to its softirq thread, so this asks for a majority.
        using Socket listener = Listen();
        int doneAtOnce = 0;
        for (int i = 0; i < 20; i++)
        {
            global::Loop.IOStream stream = Track(new global::Loop.IOStream(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), loop: Loop));
            ValueTask connect = stream.ConnectAsync(listener.LocalEndPoint!);
            if (connect.IsCompletedSuccessfully && stream.IsConnected)
            {
                doneAtOnce++;
            }

            await connect;
            await stream.WriteAsync(Bytes("ping"));
            global::Loop.IOStream server = Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
            Assert.That(Text(await server.ReadBytesAsync(4)), Is.EqualTo("ping"));
            server.Close();
            stream.Close();
        }

        Assert.That(doneAtOnce, Is.GreaterThanOrEqualTo(10));
    });

    [Test]
    public void WriteAsync_BeforeConnectCompletes_IsSentOnceConnected() => Run(async () =>
    {
        using Socket listener = Listen();
        global::Loop.IOStream stream = Track(new global::Loop.IOStream(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), loop: Loop));
        var order = new List<string>();
        Task connect = stream.ConnectAsync(listener.LocalEndPoint!).AsTask().ContinueWith(_ => order.Add("connect"), TaskContinuationOptions.ExecuteSynchronously);
        Task write = stream.WriteAsync(Bytes("ping")).AsTask().ContinueWith(_ => order.Add("write"), TaskContinuationOptions.ExecuteSynchronously);
        Socket accepted = await listener.AcceptAsync();
        global::Loop.IOStream server = Track(new global::Loop.IOStream(accepted, loop: Loop));
        Assert.That(Text(await server.ReadBytesAsync(4)), Is.EqualTo("ping"));
        await Task.WhenAll(connect, write);
        Assert.That(order, Is.EqualTo(new[] { "connect", "write" }));
    });

    [Test]
    public void ConnectAsync_ContinuationFlushes_SendsAtOnce() => Run(async () =>
    {
        using Socket listener = Listen();
        global::Loop.IOStream stream = Track(new global::Loop.IOStream(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), loop: Loop));
        await stream.ConnectAsync(listener.LocalEndPoint!);

        // This runs inside the connect's completion: the bytes must go to the kernel now, not
        // wait in the buffer for the next writable event.
        System.IO.Pipelines.PipeWriter output = stream.Output;
        Bytes("ping").CopyTo(output.GetSpan(4));
        output.Advance(4);
        ValueTask<System.IO.Pipelines.FlushResult> flush = output.FlushAsync();
        Assert.That(flush.IsCompletedSuccessfully, Is.True);
        Assert.That(stream.PendingWriteByteCount, Is.Zero);
        await flush;
        global::Loop.IOStream server = Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
        Assert.That(Text(await server.ReadBytesAsync(4)), Is.EqualTo("ping"));
    });

    [Test]
    public void PeerReset_FailsPendingReadWithConnectionResetInside()
    {
        StreamClosedException? error = null;
        Run(async () =>
        {
            (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
            ValueTask<byte[]> read = client.ReadBytesAsync(10);
            server.Socket.LingerState = new LingerOption(true, 0);
            server.Close();
            error = await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await read);
        });
        if (Wine.IsRunning && error!.InnerException is null)
        {
            // Measured under Wine 8: a zero-linger close sends FIN, not RST (see ReadinessTests).
            Assert.Ignore("Wine closes a zero-linger socket gracefully (the peer reads end of stream), so there is no reset to report");
        }

        Assert.That(error!.InnerException, Is.TypeOf<SocketException>().With.Property("SocketErrorCode").EqualTo(SocketError.ConnectionReset));
    }

    [Test]
    public void PeerReset_FailsPendingWriteWithResetOrBrokenPipeInside()
    {
        StreamClosedException? error = null;
        Run(async () =>
        {
            (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();

            // More than the two kernels' buffers hold, so the write is still pending when the
            // reset comes, and the next send fails (ECONNRESET, or EPIPE after it).
            ValueTask write = client.WriteAsync(new byte[32 << 20]);
            Assert.That(write.IsCompleted, Is.False, "The write finished before the reset.");
            server.Socket.LingerState = new LingerOption(true, 0);
            server.Close();
            error = await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await write);

            // The loop goes on: the failed send raised no signal and threw nothing out of it.
            var tick = new TaskCompletionSource();
            Loop.AddCallback(tick.SetResult);
            await tick.Task;
        });
        if (Wine.IsRunning && error!.InnerException is null)
        {
            Assert.Ignore("Wine closes a zero-linger socket gracefully (the peer reads end of stream), so there is no reset to report");
        }

        Assert.That(error!.InnerException, Is.TypeOf<SocketException>());
        Assert.That(((SocketException)error.InnerException!).SocketErrorCode, Is.EqualTo(SocketError.ConnectionReset).Or.EqualTo(SocketError.Shutdown));
    }

    [Test]
    [Platform(Include = "Linux", Reason = "The stream's own recv(2) and send(2), and the errno numbers, are Linux's")]
    public void LinuxErrno_ReadsAsDotNetSocketsReportIt()
    {
        // The values .NET's Socket methods give for the errors a stream's recv and send can meet
        // (System.Net.Sockets' SocketErrorPal), and an unknown errno as the generic error.
        Assert.Multiple(() =>
        {
            Assert.That(LinuxSocketErrors.FromErrno(11), Is.EqualTo(SocketError.WouldBlock), "EAGAIN");
            Assert.That(LinuxSocketErrors.FromErrno(4), Is.EqualTo(SocketError.Interrupted), "EINTR");
            Assert.That(LinuxSocketErrors.FromErrno(104), Is.EqualTo(SocketError.ConnectionReset), "ECONNRESET");
            Assert.That(LinuxSocketErrors.FromErrno(32), Is.EqualTo(SocketError.Shutdown), "EPIPE");
            Assert.That(LinuxSocketErrors.FromErrno(107), Is.EqualTo(SocketError.NotConnected), "ENOTCONN");
            Assert.That(LinuxSocketErrors.FromErrno(110), Is.EqualTo(SocketError.TimedOut), "ETIMEDOUT");
            Assert.That(LinuxSocketErrors.FromErrno(111), Is.EqualTo(SocketError.ConnectionRefused), "ECONNREFUSED");
            Assert.That(LinuxSocketErrors.FromErrno(113), Is.EqualTo(SocketError.HostUnreachable), "EHOSTUNREACH");
            Assert.That(LinuxSocketErrors.FromErrno(103), Is.EqualTo(SocketError.ConnectionAborted), "ECONNABORTED");
            Assert.That(LinuxSocketErrors.FromErrno(9), Is.EqualTo(SocketError.OperationAborted), "EBADF");
            Assert.That(LinuxSocketErrors.FromErrno(105), Is.EqualTo(SocketError.NoBufferSpaceAvailable), "ENOBUFS");
            Assert.That(LinuxSocketErrors.FromErrno(9999), Is.EqualTo(SocketError.SocketError), "unknown");
        });
    }

    [Test]
    [Platform(Include = "Linux", Reason = "On Linux a plain stream reads and writes with its own recv(2) and send(2)")]
    public void PlainStream_OnLinux_SwitchesTheDescriptorItselfAndStillExchanges() => Run(async () =>
    {
        using Socket listener = Listen();
        global::Loop.IOStream client = Track(new global::Loop.IOStream(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), loop: Loop));

        // .NET's own switch (Socket.Blocking = false) would have made the socket's async
        // context; the stream set O_NONBLOCK itself, so the Socket still believes it blocks.
        Assert.That(client.Socket.Blocking, Is.True);
        await client.ConnectAsync(listener.LocalEndPoint!);
        global::Loop.IOStream server = Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
        await client.WriteAsync(Bytes("ping"));
        Assert.That(Text(await server.ReadBytesAsync(4)), Is.EqualTo("ping"));
        await server.WriteAsync(Bytes("pong"));
        Assert.That(Text(await client.ReadBytesAsync(4)), Is.EqualTo("pong"));

        // Nothing more to read: the stream's recv on its non-blocking descriptor says so, and
        // the loop, not the call, waits.
        ValueTask<byte[]> more = client.ReadBytesAsync(1);
        Assert.That(more.IsCompleted, Is.False);
        await server.WriteAsync(Bytes("!"));
        Assert.That(Text(await more), Is.EqualTo("!"));
    });

    [Test]
    [Platform(Exclude = "Win", Reason = "Measured under Wine 8: its Winsock refuses AF_UNIX sockets (WSAEAFNOSUPPORT, 0x273F); the hang-up behaviour tested is a Unix socket's")]
    public void UnixSocket_PeerClosesWhileReadingIsPaused_DataStillQueuedIsDelivered() => Run(async () =>
    {
        // A Unix socket reports a hang-up as soon as the peer closes, even to a stream that is not
        // reading: that must not throw away what the kernel still holds.
        string path = Path.Combine(Path.GetTempPath(), $"loop-test-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var left = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            left.Connect(new UnixDomainSocketEndPoint(path));
            using Socket right = listener.Accept();
            left.Blocking = false;
            global::Loop.IOStream client = Track(new global::Loop.IOStream(left, new IOStreamOptions { ReadChunkSize = 1024 }, Loop));
            var payload = new byte[100_000];
            Random.Shared.NextBytes(payload);
            right.Send(payload);
            right.Close();

            Assert.That(await client.ReadBytesAsync(10), Is.EqualTo(payload[..10]));

            // Idle, with a read-ahead chunk buffered: give the poller turns to report the hang-up.
            for (int i = 0; i < 20; i++)
            {
                await Task.Yield();
            }

            Assert.That(client.IsClosed, Is.False);
            Assert.That(await client.ReadUntilCloseAsync(), Is.EqualTo(payload[10..]));
            Assert.That(client.Error, Is.Null);
        }
        finally
        {
            File.Delete(path);
        }
    });

    [Test]
    public void LoopClosedWithAllFds_ThenTheStreamCloses_DoesNotCloseTheNumberAgain()
    {
        var pair = SocketPair.Create();
        global::Loop.IOStream client = Track(new global::Loop.IOStream(pair.Left, loop: Loop));
        global::Loop.IOStream server = Track(new global::Loop.IOStream(pair.Right, loop: Loop));

        // Tornado's shutdown idiom: the loop closes what it watches. It must do so through the
        // sockets, so that the streams' own close later finds them disposed and leaves the
        // descriptor numbers alone: by then they may belong to someone else.
        Loop.Close(allFds: true);
        Assert.That(client.Socket.SafeHandle.IsClosed, Is.True);
        using var reuser = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Close();
        server.Close();
        Assert.DoesNotThrow(() => reuser.Bind(new IPEndPoint(IPAddress.Loopback, 0)));
    }

    [Test]
    public void TcpConnector_StreamOptionsRefused_FailsInsteadOfHanging() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        await AsyncAssert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { StreamOptions = new IOStreamOptions { MaxBufferSize = 1 } }));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void StartTlsAsync_OptionsThatCannotLoad_ClosesTheSocketAndRunsTheCloseCallback() => Run(async () =>
    {
        (global::Loop.IOStream client, _) = await MakePairAsync();
        var closed = new TaskCompletionSource();
        client.SetCloseCallback(closed.SetResult);
        await AsyncAssert.ThrowsAsync<ArgumentException>(async () =>
            await client.StartTlsAsync(new TlsClientOptions { ServerName = "localhost", CaCertificatesFile = "/nonexistent/ca.pem" }));
        await closed.Task;
        Assert.That(client.Socket.SafeHandle.IsClosed, Is.True);
    });

    [Test]
    public void TcpConnector_Connects_AndSetsSourcePort() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        (Socket holder, int sourcePort) = RefusingPort();
        holder.Dispose();
        global::Loop.IOStream stream = Track(await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { SourceAddress = IPAddress.Loopback, SourcePort = sourcePort }));
        Socket accepted = await listener.AcceptAsync();
        Track(new global::Loop.IOStream(accepted, loop: Loop));
        Assert.That(((IPEndPoint)accepted.RemoteEndPoint!).Port, Is.EqualTo(sourcePort));
        Assert.That(stream.IsConnected, Is.True);
    });

    [Test]
    public void TcpConnector_RefusedEverywhere_RaisesTheLastError() => Run(async () =>
    {
        (Socket holder, int port) = RefusingPort();
        using (holder)
        {
            var connector = new TcpConnector(loop: Loop);
            StreamClosedException error = await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await connector.ConnectAsync("127.0.0.1", port));
            Assert.That(error.InnerException, Is.TypeOf<SocketException>());
            Assert.That(error.Message, Does.Contain($"127.0.0.1:{port}"));
        }
    });

    [Test]
    public void TcpConnector_ServerNeverAccepts_TimesOut() => Run(async () =>
    {
        using Socket listener = Listen(backlog: 0);
        var fillers = new List<Socket>();
        try
        {
            var connector = new TcpConnector(loop: Loop);
            FillAcceptQueue(listener, fillers);

            int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            TimeoutException error = await AsyncAssert.ThrowsAsync<TimeoutException>(async () =>
                await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { Timeout = TimeSpan.FromMilliseconds(200) }));
            Assert.That(error.Message, Does.Contain("Timeout while connecting"));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    });

    [Test]
    [Category(CertificatesCategory)]
    public void TcpConnector_TlsHandshakeNeverAnswered_TimesOut() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Task<Socket> accept = listener.AcceptAsync();
        var connector = new TcpConnector(loop: Loop);
        await AsyncAssert.ThrowsAsync<TimeoutException>(async () =>
            await connector.ConnectAsync("localhost", port, new TcpConnectOptions { Timeout = TimeSpan.FromMilliseconds(300), Tls = TestCertificates.TrustingClient() }));
        (await accept).Dispose();
    });

    [Test]
    [Category(CertificatesCategory)]
    public void TcpConnector_IPLiteralTlsHandshakeNeverAnswered_TimesOut() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Task<Socket> accept = listener.AcceptAsync();
        var connector = new TcpConnector(loop: Loop);
        await AsyncAssert.ThrowsAsync<TimeoutException>(async () =>
            await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { Timeout = TimeSpan.FromMilliseconds(300), Tls = TestCertificates.TrustingClient() }));
        (await accept).Dispose();
    });

    [Test]
    public void TcpConnector_IPLiteralConnectsOneAfterAnother_EachGetsItsOwnOutcome() => Run(async () =>
    {
        // A connector reuses its direct-connect operation: a refusal, a cancellation or a
        // timeout must not leak into the connects after it.
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        (Socket holder, int refusing) = RefusingPort();
        using (holder)
        {
            var connector = new TcpConnector(loop: Loop);
            await AsyncAssert.ThrowsAsync<StreamClosedException>(async () => await connector.ConnectAsync("127.0.0.1", refusing));
            global::Loop.IOStream first = Track(await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { Timeout = TimeSpan.FromSeconds(30) }));
            Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));

            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await connector.ConnectAsync("127.0.0.1", port, cancellationToken: cancelled.Token));

            // A token cancelled after its connect ended does nothing to the next connect.
            using var later = new CancellationTokenSource();
            global::Loop.IOStream second = Track(await connector.ConnectAsync("127.0.0.1", port, cancellationToken: later.Token));
            later.Cancel();
            global::Loop.IOStream third = Track(await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { Timeout = TimeSpan.FromSeconds(30) }));
            Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
            Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
            Assert.That(new[] { first, second, third }.Distinct().Count(), Is.EqualTo(3));
            Assert.That(new[] { first, second, third }.All(stream => stream.IsConnected && !stream.IsClosed), Is.True);
        }
    });

    [Test]
    public void TcpConnector_IPLiteralCancelledFromAnotherThread_FailsWithOperationCanceled() => Run(async () =>
    {
        using Socket listener = Listen(backlog: 0);
        var fillers = new List<Socket>();
        try
        {
            FillAcceptQueue(listener, fillers);
            int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            var connector = new TcpConnector(loop: Loop);
            OperationCanceledException error = await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () =>
                await connector.ConnectAsync("127.0.0.1", port, cancellationToken: cancellation.Token));
            Assert.That(error.CancellationToken, Is.EqualTo(cancellation.Token));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    });

    [Test]
    public void TcpConnector_IPLiteralConnectsStartedTogether_ReachTheServerInTheLoopsNextCallbacks() => Run(async () =>
    {
        // The connect(2) of a direct connect waits for the loop's next callbacks, so that the
        // connects started in one iteration reach the server as one burst.
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        var connects = new List<Task<global::Loop.IOStream>>();
        for (int i = 0; i < 3; i++)
        {
            connects.Add(connector.ConnectAsync("127.0.0.1", port).AsTask());
        }

        Assert.That(connects.All(connect => !connect.IsCompleted), Is.True, "no connect is made before the loop's next callbacks");
        Assert.That(listener.Poll(0, SelectMode.SelectRead), Is.False, "no handshake has reached the server yet");
        global::Loop.IOStream[] streams = await Task.WhenAll(connects);
        foreach (global::Loop.IOStream stream in streams)
        {
            Track(stream);
            Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
        }

        Assert.That(streams.All(stream => stream.IsConnected && !stream.IsClosed), Is.True);
    });

    [Test]
    public void TcpConnector_IPLiteralCancelledBeforeItsConnectBegins_MakesNoConnection() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        using var cancellation = new CancellationTokenSource();
        ValueTask<global::Loop.IOStream> connect = connector.ConnectAsync("127.0.0.1", port, cancellationToken: cancellation.Token);
        cancellation.Cancel();
        OperationCanceledException error = await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await connect);
        Assert.That(error.CancellationToken, Is.EqualTo(cancellation.Token));
        Assert.That(listener.Poll(0, SelectMode.SelectRead), Is.False, "the server saw no connection");

        // The connector's reused operation serves the next connect as new.
        Track(await connector.ConnectAsync("127.0.0.1", port));
        Track(new global::Loop.IOStream(await listener.AcceptAsync(), loop: Loop));
    });

    [Test]
    public void TcpConnector_FirstFamilyRefuses_TriesTheOtherAtOnce() => Run(async () =>
    {
        using Socket listener6 = Listen(family: AddressFamily.InterNetworkV6);
        int port = ((IPEndPoint)listener6.LocalEndPoint!).Port;
        (Socket holder, int refused) = RefusingPort();
        using (holder)
        {
            var resolver = new FixedResolver(new IPEndPoint(IPAddress.Loopback, refused), new IPEndPoint(IPAddress.IPv6Loopback, port));
            var connector = new TcpConnector(resolver, Loop);
            global::Loop.IOStream stream = Track(await connector.ConnectAsync("dual.test", 0, new TcpConnectOptions { FallbackDelay = TimeSpan.FromSeconds(30) }));
            Assert.That(stream.Socket.AddressFamily, Is.EqualTo(AddressFamily.InterNetworkV6));
            (await listener6.AcceptAsync()).Dispose();
        }
    });

    [Test]
    public void TcpConnector_FirstFamilyHangs_TriesTheOtherAfterTheFallbackDelay() => Run(async () =>
    {
        using Socket listener = Listen(backlog: 0);
        var fillers = new List<Socket>();
        using Socket listener6 = Listen(family: AddressFamily.InterNetworkV6);
        try
        {
            FillAcceptQueue(listener, fillers);

            var resolver = new FixedResolver((IPEndPoint)listener.LocalEndPoint!, (IPEndPoint)listener6.LocalEndPoint!);
            var connector = new TcpConnector(resolver, Loop);
            global::Loop.IOStream stream = Track(await connector.ConnectAsync("dual.test", 0, new TcpConnectOptions { FallbackDelay = TimeSpan.FromMilliseconds(50), Timeout = TimeSpan.FromSeconds(10) }));
            Assert.That(stream.Socket.AddressFamily, Is.EqualTo(AddressFamily.InterNetworkV6));
            (await listener6.AcceptAsync()).Dispose();
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    });

    [Test]
    [Platform(Include = "Linux", Reason = "Binding to an interface by name needs SO_BINDTODEVICE, which only Linux has; elsewhere the connector refuses the name at once (PlatformNotSupportedException)")]
    public void TcpConnector_UnknownNetworkInterface_FailsClearly() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        IOException error = await AsyncAssert.ThrowsAsync<IOException>(async () =>
            await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { NetworkInterface = "nosuchif0" }));
        Assert.That(error.Message, Does.Contain("network interface 'nosuchif0'"));
    });

    [Test]
    public void TcpConnector_NetworkInterfaceAsAddress_BindsTheSource() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        Track(await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { NetworkInterface = "127.0.0.1" }));
        (await listener.AcceptAsync()).Dispose();
    });

    [Test]
    [Platform(Include = "Linux", Reason = "Binding to an interface by name needs SO_BINDTODEVICE, which only Linux has; elsewhere the connector refuses the name at once (PlatformNotSupportedException)")]
    public void TcpConnector_NetworkInterfaceByName_BindsTheSocketToIt() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        global::Loop.IOStream stream = Track(await connector.ConnectAsync("127.0.0.1", port, new TcpConnectOptions { NetworkInterface = "lo" }));
        var device = new byte[32];
        int length = stream.Socket.GetRawSocketOption(1 /* SOL_SOCKET */, 25 /* SO_BINDTODEVICE */, device);
        Assert.That(System.Text.Encoding.ASCII.GetString(device, 0, length).TrimEnd('\0'), Is.EqualTo("lo"));
        (await listener.AcceptAsync()).Dispose();
    });

    [Test]
    public void TcpConnector_Ipv6NotAllowed_SkipsIpv6AddressesEvenWhenTheResolverGivesThem() => Run(async () =>
    {
        using Socket listener = Listen();
        using Socket listener6 = Listen(family: AddressFamily.InterNetworkV6);
        var resolver = new FixedResolver((IPEndPoint)listener6.LocalEndPoint!, (IPEndPoint)listener.LocalEndPoint!);
        var connector = new TcpConnector(resolver, Loop);
        global::Loop.IOStream stream = Track(await connector.ConnectAsync("dual.test", 0, new TcpConnectOptions { AllowIpv6 = false }));
        Assert.That(stream.Socket.AddressFamily, Is.EqualTo(AddressFamily.InterNetwork));
        (await listener.AcceptAsync()).Dispose();
    });

    [Test]
    public void TcpConnector_Ipv6NotAllowed_OnlyIpv6Addresses_FailsToResolve() => Run(async () =>
    {
        var connector = new TcpConnector(new FixedResolver(new IPEndPoint(IPAddress.IPv6Loopback, 1)), Loop);
        ResolveException error = await AsyncAssert.ThrowsAsync<ResolveException>(async () =>
            await connector.ConnectAsync("v6only.test", 0, new TcpConnectOptions { AllowIpv6 = false }));
        Assert.That(error.Message, Does.Contain("IPv6 is not allowed"));
    });

    [Test]
    public void DefaultResolver_Ipv6NotAllowed_AsksForIpv4Only() => Run(async () =>
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connector = new TcpConnector(loop: Loop);
        global::Loop.IOStream stream = Track(await connector.ConnectAsync("localhost", port, new TcpConnectOptions { AllowIpv6 = false }));
        Assert.That(stream.Socket.AddressFamily, Is.EqualTo(AddressFamily.InterNetwork));
        (await listener.AcceptAsync()).Dispose();
    });

    [TestCase(false)]
    [TestCase(true)]
    [Category(CertificatesCategory)]
    public void Tls_ClientCertificateFromPem_IsPresentedToAServerThatRequiresOne(bool combinedFile) => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.Server, requireClientCertificate: true);
        (string certificateFile, string? keyFile) = TestCertificates.WriteClientPem(combinedFile);
        try
        {
            var connector = new TcpConnector(loop: Loop);
            TlsClientOptions options = TestCertificates.TrustingClient() with { ClientCertificateFile = certificateFile, ClientKeyFile = keyFile };
            global::Loop.IOStream stream = Track(await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = options }));
            await stream.WriteAsync(Bytes("ping\n"));
            Assert.That(Text(await stream.ReadUntilAsync(Bytes("\n"))), Is.EqualTo("ping\n"));
            Assert.That(server.ClientSubjects, Is.EqualTo(new[] { "CN=Loop Test Client" }));
        }
        finally
        {
            File.Delete(certificateFile);
            if (keyFile is not null)
            {
                File.Delete(keyFile);
            }
        }
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_NoClientCertificate_AServerThatRequiresOne_EndsTheConnection() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.Server, requireClientCertificate: true);
        var connector = new TcpConnector(loop: Loop);
        Exception? error = null;
        try
        {
            // Under TLS 1.3 the client's handshake ends before the server has judged its
            // (missing) certificate, so the refusal may only arrive with the first read.
            global::Loop.IOStream stream = Track(await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = TestCertificates.TrustingClient() }));
            await stream.WriteAsync(Bytes("ping\n"));
            await stream.ReadUntilAsync(Bytes("\n"));
        }
        catch (Exception e)
        {
            error = e;
        }

        Assert.That(error, Is.InstanceOf<TlsHandshakeException>().Or.InstanceOf<StreamClosedException>());
        Assert.That(server.ClientSubjects, Is.Empty);
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_ClientCertificateFileMissing_IsAnArgumentError() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.Server, requireClientCertificate: true);
        var connector = new TcpConnector(loop: Loop);
        TlsClientOptions options = TestCertificates.TrustingClient() with { ClientCertificateFile = "/nonexistent/client.pem" };
        ArgumentException error = await AsyncAssert.ThrowsAsync<ArgumentException>(async () =>
            await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = options }));
        Assert.That(error.Message, Does.Contain("Cannot load the client certificate from '/nonexistent/client.pem'"));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_TrustedCertificateForTheHost_Connects() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.Server);
        var connector = new TcpConnector(loop: Loop);
        var stream = (SslIOStream)Track(await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = TestCertificates.TrustingClient() }));
        Assert.That(stream.IsHandshakeComplete, Is.True);
        await stream.WriteAsync(Bytes("ping\n"));
        Assert.That(Text(await stream.ReadUntilAsync(Bytes("\n"))), Is.EqualTo("ping\n"));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_CaFromPemFileAndAlpn_Connects() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.Server);
        string caFile = TestCertificates.WriteAuthorityPem();
        try
        {
            var connector = new TcpConnector(loop: Loop);
            var options = new TlsClientOptions { CaCertificatesFile = caFile, ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http11] };
            var stream = (SslIOStream)Track(await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = options }));
            Assert.That(stream.NegotiatedApplicationProtocol, Is.EqualTo(System.Net.Security.SslApplicationProtocol.Http11));
        }
        finally
        {
            File.Delete(caFile);
        }
    });

    [TestCase("bar.example.com", TlsFailureReason.NameMismatch, "does not match host name 'bar.example.com'")]
    [TestCase("localhost", TlsFailureReason.Expired, "expired")]
    [Category(CertificatesCategory)]
    public void Tls_BadCertificate_FailsWithTheReason(string serverName, TlsFailureReason reason, string text) => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(reason == TlsFailureReason.Expired ? TestCertificates.Expired : TestCertificates.Server);
        var connector = new TcpConnector(loop: Loop);
        TlsHandshakeException error = await AsyncAssert.ThrowsAsync<TlsHandshakeException>(async () =>
            await connector.ConnectAsync("127.0.0.1", server.Port, new TcpConnectOptions { Tls = TestCertificates.TrustingClient(serverName) }));
        Assert.That(error.Reason, Is.EqualTo(reason));
        Assert.That(error.Message, Does.Contain(text));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_SelfSignedCertificate_FailsAsUntrusted() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.SelfSigned);
        var connector = new TcpConnector(loop: Loop);
        TlsHandshakeException error = await AsyncAssert.ThrowsAsync<TlsHandshakeException>(async () =>
            await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = new TlsClientOptions() }));
        Assert.That(error.Reason, Is.EqualTo(TlsFailureReason.UntrustedRoot));
        Assert.That(error.Message, Does.Contain("not trusted"));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void Tls_ValidationOffOrNameCheckOff_Connects() => Run(async () =>
    {
        using TlsServer server = TlsServer.Start(TestCertificates.SelfSigned);
        using TlsServer server2 = TlsServer.Start(TestCertificates.Server);
        var connector = new TcpConnector(loop: Loop);
        Track(await connector.ConnectAsync("localhost", server.Port, new TcpConnectOptions { Tls = new TlsClientOptions { ValidateCertificate = false } }));
        var noNameCheck = new TlsClientOptions { ServerName = "bar.example.com", CaCertificates = TestCertificates.AuthorityCollection, CheckCertificateName = false };
        Track(await connector.ConnectAsync("127.0.0.1", server2.Port, new TcpConnectOptions { Tls = noNameCheck }));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void StartTlsAsync_AfterPlaintextExchange_BothSidesKeepTalking() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        await server.WriteAsync(Bytes("220 ready\r\n"));
        Assert.That(Text(await client.ReadUntilAsync(Bytes("\r\n"))), Is.EqualTo("220 ready\r\n"));
        await client.WriteAsync(Bytes("STARTTLS\r\n"));
        Assert.That(Text(await server.ReadUntilAsync(Bytes("\r\n"))), Is.EqualTo("STARTTLS\r\n"));
        await server.WriteAsync(Bytes("220 go ahead\r\n"));
        Assert.That(Text(await client.ReadUntilAsync(Bytes("\r\n"))), Is.EqualTo("220 go ahead\r\n"));

        Task<SslIOStream> serverTls = server.StartTlsAsync(TestCertificates.ServerOptions()).AsTask();
        SslIOStream clientTls = Track(await client.StartTlsAsync(TestCertificates.TrustingClient()));
        SslIOStream serverSide = Track(await serverTls);
        Assert.That(client.IsClosed, Is.True);
        await clientTls.WriteAsync(Bytes("EHLO example.com\r\n"));
        Assert.That(Text(await serverSide.ReadUntilAsync(Bytes("\r\n"))), Is.EqualTo("EHLO example.com\r\n"));
        await serverSide.WriteAsync(Bytes("250 hello\r\n"));
        Assert.That(Text(await clientTls.ReadUntilAsync(Bytes("\r\n"))), Is.EqualTo("250 hello\r\n"));
    });

    [Test]
    [Category(CertificatesCategory)]
    public void StartTlsAsync_WithReadPending_IsRefused() => Run(async () =>
    {
        (global::Loop.IOStream client, global::Loop.IOStream server) = await MakePairAsync();
        ValueTask<byte[]> read = client.ReadBytesAsync(1);
        TlsClientOptions options = TestCertificates.TrustingClient();
        InvalidOperationException refused = await AsyncAssert.ThrowsAsync<InvalidOperationException>(async () => await client.StartTlsAsync(options));
        Assert.That(refused.Message, Does.Contain("not idle"));
        await server.WriteAsync(Bytes("x"));
        await read;
    });

    /// <summary>Connects until the listener's accept queue is full; Linux then drops further SYNs, so a connect hangs.</summary>
    private static void FillAcceptQueue(Socket listener, List<Socket> fillers)
    {
        for (int i = 0; i < 4; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            fillers.Add(filler);
            try
            {
                filler.Connect(listener.LocalEndPoint!);
            }
            catch (SocketException)
            {
                // In progress, or already dropped: either way the queue fills.
            }
        }
    }

    private sealed class FixedResolver(params IPEndPoint[] endpoints) : IResolver
    {
        public ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default) =>
            new(endpoints);
    }
}
