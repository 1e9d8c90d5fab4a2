using System.Net;
using System.Net.Sockets;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Reliability;

/// <summary>
/// The servers and gates that hold a fetch in a <see cref="FetchPhase"/> until the test closes the
/// client or cancels the fetch; disposed after the test (which lets held callbacks return).
/// </summary>
internal sealed class PhaseScene(AsyncHttpClient client) : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    private readonly List<IDisposable> _owned = [];
    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Fetches of <c>/trigger</c> that hold every slot for <see cref="FetchPhase.Queued"/> (released with <see cref="TestHttpServer.ReleaseNextAsync"/>).</summary>
    public List<Task<HttpResponse>> Fillers { get; } = [];

    /// <summary>Ports whose client sockets must all be closed once the client is (but for <see cref="OwnSocketsTo"/>).</summary>
    public List<int> Ports { get; } = [TestHttpServer.Shared.Port];

    private readonly Dictionary<int, int> _ownSockets = [];

    /// <summary>Sockets the scene itself holds to <paramref name="port"/> (the one filling a backlog).</summary>
    public int OwnSocketsTo(int port) => _ownSockets.GetValueOrDefault(port);

    /// <summary>Starts a fetch and returns once it is in <paramref name="phase"/>.</summary>
    public async Task<Task<HttpResponse>> StartAsync(FetchPhase phase, CancellationToken cancellationToken = default)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<HttpResponse> fetch;
        switch (phase)
        {
            case FetchPhase.Queued:
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

                fetch = client.FetchAsync(new HttpRequest(TestHttpServer.Shared.Url("/hello")), cancellationToken: cancellationToken);
                await Settle.UntilAsync(() => client.QueuedCount > 0, Bound, "queued");
                return fetch;

            case FetchPhase.Connecting:
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
                    fetch = client.FetchAsync(new HttpRequest($"http://127.0.0.1:{port}/") { ConnectTimeout = TimeSpan.FromMinutes(1), RequestTimeout = TimeSpan.FromMinutes(1) }, cancellationToken: cancellationToken);
                    await Settle.UntilAsync(() => fetch.IsCompleted || Fds.ClientSocketsTo(port).Count > 1, Bound, "connecting");
                    return fetch;
                }

            case FetchPhase.TlsHandshake:
                {
                    RawHttpServer raw = Hold(async connection =>
                    {
                        _ = await connection.Socket.ReceiveAsync(new byte[4096], SocketFlags.None);
                        reached.TrySetResult();
                    });
                    fetch = client.FetchAsync(new HttpRequest($"https://127.0.0.1:{raw.Port}/"), cancellationToken: cancellationToken);
                    break;
                }

            case FetchPhase.SendingBody:
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
                    }, cancellationToken: cancellationToken);
                    break;
                }

            case FetchPhase.WaitingForTheHead:
                {
                    RawHttpServer raw = Hold(async connection =>
                    {
                        await connection.ReadRequestAsync();
                        reached.TrySetResult();
                    });
                    fetch = client.FetchAsync(new HttpRequest(raw.Url()), cancellationToken: cancellationToken);
                    break;
                }

            case FetchPhase.MidBody:
                {
                    RawHttpServer raw = Hold(async connection =>
                    {
                        await connection.ReadRequestAsync();
                        await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first part");
                    });
                    fetch = client.FetchAsync(new HttpRequest(raw.Url()) { StreamingCallback = _ => reached.TrySetResult() }, cancellationToken: cancellationToken);
                    break;
                }

            case FetchPhase.PausedInAsyncStreamingCallback:
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
                    }, cancellationToken: cancellationToken);
                    break;
                }

            case FetchPhase.FollowingARedirect:
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
                    fetch = client.FetchAsync(new HttpRequest(origin.Url()), cancellationToken: cancellationToken);
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
