using System.Text;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Reliability;

/// <summary>
/// Cancellation storms (issue 12): many fetches whose tokens are cancelled at seeded random points
/// (before the call, while queued, while connecting, while the server is slow, mid-body, from
/// every callback, from another thread). Every fetch must end, cancelled or with a response; every
/// slot must come back; the client must still work; nothing may be left behind (the teardown
/// checks handlers, timers and callbacks, the tests check the client's sockets).
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class CancellationStormTests(Type clientType) : HttpClientFixture(clientType)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Where a fetch's token is cancelled.</summary>
    private enum CancelPoint
    {
        /// <summary>Never: the fetch must succeed.</summary>
        Never,

        /// <summary>Before FetchAsync is called.</summary>
        BeforeTheCall,

        /// <summary>Right after FetchAsync returns, on the loop thread: queued or connecting.</summary>
        AfterTheCall,

        /// <summary>A loop timer a random 0–N ms later: anywhere.</summary>
        LoopTimer,

        /// <summary>A thread-pool timer a random 0–N ms later (<see cref="CancellationTokenSource.CancelAfter(int)"/>): another thread.</summary>
        OtherThread,

        /// <summary>From the header callback, at a random header line.</summary>
        HeaderCallback,

        /// <summary>From the streaming callback, at a random part of the body (the last one too: a late cancellation).</summary>
        StreamingCallback,

        /// <summary>From the async streaming callback, before or after it yields.</summary>
        AsyncStreamingCallback,

        /// <summary>From the body producer, between two writes.</summary>
        BodyProducer,
    }

    private static SlowHttpServer Slow => SlowHttpServer.Shared;

    [Test]
    public void LateCancel_FromItsOwnStreamingCallback_TheFetchQueuedBehindItCompletes() => Run(async () =>
    {
        // Issue 12 item 1, exactly: one slot; A cancels its own token from its streaming callback
        // once its whole body has arrived; B waits behind A with a 3 s timeout. The abort posted
        // for A must not reach B (which curl used to find by A's recycled easy handle). A may end
        // either way (the cancellation came after its body), B must get its 200. Repeated, as the
        // recycled handle is reused every round.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        for (int round = 0; round < 20; round++)
        {
            using var cancelA = new CancellationTokenSource();
            var requestA = new HttpRequest(Server.Url("/hello")) { StreamingCallback = _ => cancelA.Cancel() };
            Task<HttpResponse> a = client.FetchAsync(requestA, raiseError: false, cancellationToken: cancelA.Token);
            Task<HttpResponse> b = client.FetchAsync(new HttpRequest(Server.Url("/hello")) { RequestTimeout = TimeSpan.FromSeconds(3) }, raiseError: false);
            await Settle.AllAsync([a, b], TimeSpan.FromSeconds(5), i => $"round {round}: {(i == 0 ? "A" : "B")}");
            Assert.That(a.IsCanceled || a.Result.Code == 200, Is.True, $"round {round}: A ended {a.Status} {(a.IsCompletedSuccessfully ? a.Result.Code : 0)}");
            Assert.That(b.IsCompletedSuccessfully, Is.True, $"round {round}: B ended {b.Status}");
            HttpResponse responseB = await b;
            Assert.That(responseB.Code, Is.EqualTo(200), $"round {round}: B: {responseB.Error?.Message}");
            Assert.That(Text(responseB), Is.EqualTo("Hello world!"));
        }

        await AssertIdleAndWorkingAsync(client);
    });

    [Test]
    public void LateCancel_FromTheLastPartOfADrippedBody_NeverReachesTheNextFetch() => Run(async () =>
    {
        // The same race with a body in parts and a fetch behind that takes a while itself: the
        // cancellation of A lands on the loop while B is already running on A's connection or handle.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        for (int round = 0; round < 10; round++)
        {
            using var cancelA = new CancellationTokenSource();
            int parts = 0;
            var requestA = new HttpRequest(Slow.Url("/drip?parts=3&ms=1&size=64"))
            {
                StreamingCallback = data =>
                {
                    if (++parts == 3)
                    {
                        cancelA.Cancel();
                    }
                },
            };
            Task<HttpResponse> a = client.FetchAsync(requestA, raiseError: false, cancellationToken: cancelA.Token);
            Task<HttpResponse> b = client.FetchAsync(new HttpRequest(Slow.Url("/slow?ms=5")) { RequestTimeout = TimeSpan.FromSeconds(3) }, raiseError: false);
            await Settle.AllAsync([a, b], TimeSpan.FromSeconds(5), i => $"round {round}: {(i == 0 ? "A" : "B")}");
            Assert.That(a.IsCanceled || a.Result.Code == 200, Is.True, $"round {round}: A ended {a.Status}");
            HttpResponse responseB = await b;
            Assert.That(responseB.Code, Is.EqualTo(200), $"round {round}: B: {responseB.Error?.Message}");
            Assert.That(Text(responseB), Is.EqualTo("ok"));
        }

        await AssertIdleAndWorkingAsync(client);
    });

    [TestCase(10, 2000, 20)]
    [TestCase(1, 300, 5)]
    public void Storm_CancelledAtRandomPoints_EveryFetchEnds_AndEverySlotComesBack(int maxClients, int count, int maxDelayMs) => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = maxClients });
        var random = new Random(1200 + maxClients);
        var fetches = new List<StormFetch>(count);
        for (int i = 0; i < count; i++)
        {
            fetches.Add(StartStormFetch(client, random, maxDelayMs));
        }

        await Settle.AllAsync([.. fetches.Select(f => f.Task)], Bound, i => fetches[i].ToString());
        foreach (StormFetch fetch in fetches)
        {
            Loop.RemoveTimeout(fetch.Timer);
            fetch.Cancel.Dispose();
        }

        var outcomes = fetches.GroupBy(f => (f.Point, Outcome: f.Outcome())).OrderBy(g => g.Key.Point).ThenBy(g => g.Key.Outcome, StringComparer.Ordinal);
        TestContext.Out.WriteLine(string.Join(Environment.NewLine, outcomes.Select(g => $"{g.Key.Point,-22} {g.Key.Outcome,-40} {g.Count(),5}")));
        Assert.Multiple(() =>
        {
            foreach (StormFetch fetch in fetches)
            {
                // raiseError is off: the task either is cancelled or holds a response.
                Assert.That(fetch.Task.IsFaulted, Is.False, $"{fetch}: {fetch.Task.Exception?.GetBaseException()}");
                if (fetch.Point == CancelPoint.Never)
                {
                    Assert.That(fetch.Outcome(), Is.EqualTo("200"), fetch.ToString());
                }
                else if (fetch.Point == CancelPoint.BeforeTheCall)
                {
                    Assert.That(fetch.Task.IsCanceled, Is.True, fetch.ToString());
                }
            }
        });

        await AssertIdleAndWorkingAsync(client);
    });

    [Test]
    public void Storm_FetchesFromOtherThreads_CancelledFromOtherThreads_AllEnd() => Run(async () =>
    {
        // FetchAsync and Cancel both off the loop: the fetch is handed to the loop, the
        // cancellation races it from a thread-pool timer.
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 4 });
        var random = new Random(1212);
        int[] delays = [.. Enumerable.Range(0, 400).Select(_ => random.Next(0, 8))];
        string[] urls = [.. delays.Select(d => d % 2 == 0 ? Slow.Url($"/slow?ms={d}") : Slow.Url($"/drip?parts=3&ms={d}&size=256"))];
        var sources = delays.Select(_ => new CancellationTokenSource()).ToArray();
        Task<HttpResponse>[] tasks = await Task.Run(() => Enumerable.Range(0, delays.Length).Select(i =>
        {
            Task<HttpResponse> fetch = client.FetchAsync(new HttpRequest(urls[i]), raiseError: false, cancellationToken: sources[i].Token);
            if (i % 4 != 0)
            {
                sources[i].CancelAfter(delays[i]);
            }

            return fetch;
        }).ToArray());
        await Settle.AllAsync(tasks, Bound, i => urls[i]);
        Assert.Multiple(() =>
        {
            for (int i = 0; i < tasks.Length; i++)
            {
                Assert.That(tasks[i].IsFaulted, Is.False, $"{urls[i]}: {tasks[i].Exception?.GetBaseException()}");
                if (i % 4 == 0)
                {
                    Assert.That(tasks[i].Result.Code, Is.EqualTo(200), urls[i]);
                }
            }
        });

        foreach (CancellationTokenSource source in sources)
        {
            source.Dispose();
        }

        await AssertIdleAndWorkingAsync(client);
    });

    /// <summary>No slot held, nothing queued, a fetch still works; once closed, no socket of the client is left open.</summary>
    private async Task AssertIdleAndWorkingAsync(AsyncHttpClient client)
    {
        Assert.That(client.ActiveCount, Is.Zero, "slots still held");
        Assert.That(client.QueuedCount, Is.Zero, "fetches still queued");
        HttpResponse after = await client.FetchAsync(new HttpRequest(Server.Url("/hello")) { RequestTimeout = TimeSpan.FromSeconds(5) }, raiseError: false);
        Assert.That(after.Code, Is.EqualTo(200), after.Error?.Message);
        Assert.That(client.ActiveCount, Is.Zero);
        client.Close();
        await Settle.UntilAsync(() => Fds.ClientSocketsTo(Server.Port).Count == 0 && Fds.ClientSocketsTo(Slow.Port).Count == 0, TimeSpan.FromSeconds(5), "the closed client's sockets are closed");
    }

    private StormFetch StartStormFetch(AsyncHttpClient client, Random random, int maxDelayMs)
    {
        var point = (CancelPoint)random.Next(0, Enum.GetValues<CancelPoint>().Length);
        int delay = random.Next(0, maxDelayMs + 1);
        int parts = random.Next(1, 5);
        int target = random.Next(0, 4);
        string url = target switch
        {
            0 => Server.Url("/hello"),
            1 => Slow.Url($"/slow?ms={random.Next(0, maxDelayMs / 2 + 1)}"),
            2 => Slow.Url($"/drip?parts={parts}&ms={random.Next(0, 3)}&size={random.Next(1, 4096)}"),
            _ => Slow.Url("/redirect?url=" + Uri.EscapeDataString($"/drip?parts={parts}&ms=1&size=100")),
        };
        var fetch = new StormFetch(point, url, delay, new CancellationTokenSource());
        CancellationTokenSource cancel = fetch.Cancel;
        var request = new HttpRequest(url) { RequestTimeout = TimeSpan.FromSeconds(8) };
        int cancelAt = random.Next(1, parts + 1);
        bool yieldFirst = random.Next(2) == 0;
        switch (point)
        {
            case CancelPoint.BeforeTheCall:
                cancel.Cancel();
                break;
            case CancelPoint.HeaderCallback:
                int lines = 0;
                request = request with { HeaderCallback = _ => { if (++lines == cancelAt) { cancel.Cancel(); } } };
                break;
            case CancelPoint.StreamingCallback:
                int seen = 0;
                request = request with { StreamingCallback = _ => { if (++seen == cancelAt) { cancel.Cancel(); } } };
                break;
            case CancelPoint.AsyncStreamingCallback:
                int calls = 0;
                request = request with
                {
                    AsyncStreamingCallback = async _ =>
                    {
                        if (++calls != cancelAt)
                        {
                            return;
                        }

                        if (yieldFirst)
                        {
                            await Task.Yield();
                        }

                        cancel.Cancel();
                        await Task.Yield();
                    },
                };
                break;
            case CancelPoint.BodyProducer:
                request = new HttpRequest(Server.Url("/echopost"), "POST")
                {
                    RequestTimeout = TimeSpan.FromSeconds(8),
                    BodyProducer = async write =>
                    {
                        await write(Encoding.ASCII.GetBytes("first part "));
                        cancel.Cancel();
                        await write(Encoding.ASCII.GetBytes("second part"));
                    },
                };
                fetch = fetch with { Url = request.Url };
                break;
        }

        fetch.Task = client.FetchAsync(request, raiseError: false, cancellationToken: cancel.Token);
        switch (point)
        {
            case CancelPoint.AfterTheCall:
                cancel.Cancel();
                break;
            case CancelPoint.LoopTimer:
                fetch.Timer = Loop.CallLater(TimeSpan.FromMilliseconds(delay), static state => ((CancellationTokenSource)state!).Cancel(), cancel);
                break;
            case CancelPoint.OtherThread:
                cancel.CancelAfter(delay);
                break;
        }

        return fetch;
    }

    private sealed record StormFetch(CancelPoint Point, string Url, int DelayMs, CancellationTokenSource Cancel)
    {
        public Task<HttpResponse> Task { get; set; } = null!;

        public TimeoutHandle Timer { get; set; }

        public string Outcome() => Task.Status switch
        {
            TaskStatus.Canceled => "cancelled",
            TaskStatus.Faulted => "faulted: " + Task.Exception!.GetBaseException().GetType().Name,
            TaskStatus.RanToCompletion when Task.Result.Error is HttpClientError { Code: 599 } error => $"599 {error.GetType().Name}",
            TaskStatus.RanToCompletion => Task.Result.Code.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => Task.Status.ToString(),
        };

        public override string ToString() => $"{Point} after {DelayMs} ms, {Url}: {Outcome()}";
    }
}
