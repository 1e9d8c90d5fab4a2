using System.Net;
using System.Net.Sockets;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Reliability;

/// <summary>
/// <see cref="AsyncHttpClient.Close"/> with a fetch in every phase a fetch goes through (issue
/// 12): every task ends at once (a running fetch with a 599 <see cref="HttpClientError"/> around
/// an <see cref="ObjectDisposedException"/>, a queued one with the <see cref="ObjectDisposedException"/>),
/// every slot comes back, no socket of the client stays open, Close can be called again, and the
/// teardown finds no handler, timer or callback left.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class CloseInEveryPhaseTests(Type clientType) : HttpClientFixture(clientType)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>Where a fetch is when the client closes.</summary>
    public enum Phase
    {
        /// <summary>Waiting for a slot.</summary>
        Queued,

        /// <summary>TCP connect to a listener whose backlog is full: the SYN is never answered.</summary>
        Connecting,

        /// <summary>Connected to an https URL whose server never answers the ClientHello.</summary>
        TlsHandshake,

        /// <summary>Sending a body whose producer is awaiting something that does not come.</summary>
        SendingBody,

        /// <summary>Request sent, the server says nothing.</summary>
        WaitingForTheHead,

        /// <summary>Head and part of the body received, the rest does not come.</summary>
        MidBody,

        /// <summary>The async streaming callback holds the first part of the body and has not returned.</summary>
        PausedInAsyncStreamingCallback,

        /// <summary>Following a 302 to a server that says nothing.</summary>
        FollowingARedirect,
    }

    [TestCase(Phase.Queued)]
    [TestCase(Phase.Connecting)]
    [TestCase(Phase.TlsHandshake)]
    [TestCase(Phase.SendingBody)]
    [TestCase(Phase.WaitingForTheHead)]
    [TestCase(Phase.MidBody)]
    [TestCase(Phase.PausedInAsyncStreamingCallback)]
    [TestCase(Phase.FollowingARedirect)]
    public void Close_WithAFetchInThePhase_FailsIt_AndLeavesNothingBehind(Phase phase) => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        await using var scene = new Scene(client);
        Task<HttpResponse> fetch = await scene.StartAsync(phase);
        await CloseAndCheckAsync(client, scene, [fetch], [phase.ToString()]);
    });

    [Test]
    public void Close_WithFetchesInEveryPhaseAtOnce_FailsThemAll_AndLeavesNothingBehind() => Run(async () =>
    {
        Phase[] running = [.. Enum.GetValues<Phase>().Where(p => p != Phase.Queued)];
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = running.Length });
        await using var scene = new Scene(client);
        var fetches = new List<Task<HttpResponse>>();
        foreach (Phase phase in running)
        {
            fetches.Add(await scene.StartAsync(phase));
        }

        fetches.Add(await scene.StartAsync(Phase.Queued));
        await CloseAndCheckAsync(client, scene, fetches, [.. running.Select(p => p.ToString()), nameof(Phase.Queued)]);
    });

    [Test]
    public void Close_FromAnotherThread_WithFetchesRunningAndQueued_FailsThemAll() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        await using var scene = new Scene(client);
        Task<HttpResponse> head = await scene.StartAsync(Phase.WaitingForTheHead);
        Task<HttpResponse> queued = await scene.StartAsync(Phase.Queued);
        Assert.That(head.IsCompleted || queued.IsCompleted, Is.False, "ended before Close");
        await Task.Run(client.Close);
        await CloseAndCheckAsync(client, scene, [head, queued], ["waiting for the head", "queued"], closedAlready: true);
    });

    /// <summary>Closes (again, if already closed: it must be idempotent) and checks that every fetch ended as a closed client's does and nothing is held.</summary>
    private async Task CloseAndCheckAsync(AsyncHttpClient client, Scene scene, IReadOnlyList<Task<HttpResponse>> fetches, IReadOnlyList<string> names, bool closedAlready = false)
    {
        if (!closedAlready)
        {
            Assert.That(Enumerable.Range(0, fetches.Count).Where(i => fetches[i].IsCompleted).Select(i => names[i]), Is.Empty, "ended before Close");
        }

        client.Close();
        client.Close();
        List<Task<HttpResponse>> all = [.. fetches, .. scene.Fillers];
        await Settle.AllAsync(all, Bound, i => i < names.Count ? names[i] : "a fetch holding a slot");
        Assert.Multiple(() =>
        {
            for (int i = 0; i < all.Count; i++)
            {
                string name = i < names.Count ? names[i] : "a fetch holding a slot";
                Assert.That(all[i].IsFaulted, Is.True, $"{name}: {all[i].Status}");
                Exception? error = all[i].Exception?.InnerException;
                Assert.That(error is ObjectDisposedException or HttpClientError { Code: 599 }, Is.True, $"{name}: {error}");
                Assert.That(error?.GetBaseException(), Is.InstanceOf<ObjectDisposedException>(), $"{name}: {error}");
            }

            Assert.That(client.ActiveCount, Is.Zero, "slots still held");
            Assert.That(client.QueuedCount, Is.Zero, "fetches still queued");
        });
        Assert.Throws<ObjectDisposedException>(() => client.FetchAsync(Server.Url("/hello")));
        await Settle.UntilAsync(() => scene.Ports.All(port => Fds.ClientSocketsTo(port).Count == scene.OwnSocketsTo(port)), Bound, "the closed client's sockets are closed");
    }

    /// <summary>The servers and gates that hold fetches in their phases; disposed after the test.</summary>
    private sealed class Scene(AsyncHttpClient client) : IAsyncDisposable
    {
        private readonly List<IDisposable> _owned = [];
        private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<Task<HttpResponse>> Fillers { get; } = [];

        /// <summary>Ports whose client sockets must be closed after Close.</summary>
        public List<int> Ports { get; } = [TestHttpServer.Shared.Port];

        private readonly Dictionary<int, int> _ownSockets = [];

        public int OwnSocketsTo(int port) => _ownSockets.GetValueOrDefault(port);

        /// <summary>Starts a fetch and returns once it is in <paramref name="phase"/>.</summary>
        public async Task<Task<HttpResponse>> StartAsync(Phase phase)
        {
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<HttpResponse> fetch;
            switch (phase)
            {
                case Phase.Queued:
                    {
                        // The slots are held by fetches the server has received (so they are past
                        // connecting): the queued one is the only one in the queue phase.
                        int parked = TestHttpServer.Shared.ParkedCount;
                        int filling = client.MaxClients - client.ActiveCount;
                        for (int i = 0; i < filling; i++)
                        {
                            Fillers.Add(client.FetchAsync(TestHttpServer.Shared.Url("/trigger")));
                        }

                        await Settle.UntilAsync(() => TestHttpServer.Shared.ParkedCount >= parked + filling, Bound, "the slots' fetches reach the server");
                    }

                    fetch = client.FetchAsync(TestHttpServer.Shared.Url("/hello"));
                    await Settle.UntilAsync(() => client.QueuedCount > 0, Bound, "queued");
                    return fetch;

                case Phase.Connecting:
                    {
                        // listen(0) takes one connection into its accept queue; with that one
                        // there (ours), the kernel drops the next SYNs and the client waits in SYN-SENT.
                        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                        listener.Listen(0);
                        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
                        var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                        await filler.ConnectAsync(IPAddress.Loopback, port);
                        _owned.Add(filler);
                        _owned.Add(listener);
                        Ports.Add(port);
                        _ownSockets[port] = 1;
                        fetch = client.FetchAsync(new HttpRequest($"http://127.0.0.1:{port}/") { ConnectTimeout = TimeSpan.FromMinutes(1), RequestTimeout = TimeSpan.FromMinutes(1) });
                        await Settle.UntilAsync(() => fetch.IsCompleted || Fds.ClientSocketsTo(port).Count > 1, Bound, "connecting");
                        return fetch;
                    }

                case Phase.TlsHandshake:
                    {
                        RawHttpServer raw = Hold(async connection =>
                        {
                            _ = await connection.Socket.ReceiveAsync(new byte[4096], SocketFlags.None);
                            reached.TrySetResult();
                        });
                        fetch = client.FetchAsync($"https://127.0.0.1:{raw.Port}/");
                        break;
                    }

                case Phase.SendingBody:
                    {
                        RawHttpServer raw = Hold(async connection => await connection.ReadRequestAsync(readBody: false));
                        fetch = client.FetchAsync(new HttpRequest(raw.Url(), "POST")
                        {
                            BodyProducer = async write =>
                            {
                                await write("the first part"u8.ToArray());
                                reached.TrySetResult();
                                await _never.Task;
                            },
                        });
                        break;
                    }

                case Phase.WaitingForTheHead:
                    {
                        RawHttpServer raw = Hold(async connection =>
                        {
                            await connection.ReadRequestAsync();
                            reached.TrySetResult();
                        });
                        fetch = client.FetchAsync(raw.Url());
                        break;
                    }

                case Phase.MidBody:
                    {
                        RawHttpServer raw = Hold(async connection =>
                        {
                            await connection.ReadRequestAsync();
                            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first part");
                        });
                        fetch = client.FetchAsync(new HttpRequest(raw.Url()) { StreamingCallback = _ => reached.TrySetResult() });
                        break;
                    }

                case Phase.PausedInAsyncStreamingCallback:
                    {
                        RawHttpServer raw = Hold(async connection =>
                        {
                            await connection.ReadRequestAsync();
                            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first part");
                        });
                        fetch = client.FetchAsync(new HttpRequest(raw.Url())
                        {
                            AsyncStreamingCallback = async _ =>
                            {
                                reached.TrySetResult();
                                await _never.Task;
                            },
                        });
                        break;
                    }

                case Phase.FollowingARedirect:
                    {
                        RawHttpServer target = Hold(async connection =>
                        {
                            await connection.ReadRequestAsync();
                            reached.TrySetResult();
                        });
                        RawHttpServer origin = Hold(async connection =>
                        {
                            await connection.ReadRequestAsync();
                            await connection.WriteAsync($"HTTP/1.1 302 Found\r\nLocation: {target.Url("/next")}\r\nContent-Length: 0\r\n\r\n");
                        });
                        fetch = client.FetchAsync(origin.Url());
                        break;
                    }

                default:
                    throw new ArgumentOutOfRangeException(nameof(phase));
            }

            await Settle.OneAsync(Task.WhenAny(reached.Task, fetch), Bound, phase.ToString());
            Assert.That(fetch.IsCompleted, Is.False, $"{phase}: ended before Close: {fetch.Exception?.GetBaseException()}");
            return fetch;
        }

        public ValueTask DisposeAsync()
        {
            // Lets the producer and the callback that were held return (their fetches have ended).
            _never.TrySetResult();
            foreach (IDisposable owned in _owned)
            {
                owned.Dispose();
            }

            return ValueTask.CompletedTask;
        }

        /// <summary>A raw server that keeps every connection open after <paramref name="handler"/>.</summary>
        private RawHttpServer Hold(Func<RawHttpServer.Connection, Task> handler)
        {
            RawHttpServer raw = RawHttpServer.Start(async connection =>
            {
                connection.KeepOpen = true;
                await handler(connection);
            });
            _owned.Add(raw);
            Ports.Add(raw.Port);
            return raw;
        }
    }
}
