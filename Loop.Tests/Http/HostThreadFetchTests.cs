using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// A host that ticks the loop itself (a game server's main loop) and fetches from its own tick
/// code: its awaits come back to its thread, and a budgeted tick bounds what each client does
/// per tick while every fetch still completes.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient), PollerBackend.Epoll)]
[TestFixture(typeof(SimpleAsyncHttpClient), PollerBackend.Poll)]
[TestFixture(typeof(CurlAsyncHttpClient), PollerBackend.Epoll)]
[TestFixture(typeof(CurlAsyncHttpClient), PollerBackend.Poll)]
public sealed class HostThreadFetchTests(Type clientType, PollerBackend backend) : HttpClientFixture(clientType, backend)
{
    [TestCase(false)]
    [TestCase(true)]
    public void FetchAwaitedInHostTickCode_ResumesOnTheHostThread(bool attach)
    {
        var resumedOnHost = new List<bool>();
        Task? work = null;
        Fds.RunBounded(() =>
        {
            if (attach)
            {
                Loop.AttachCurrentThread();
            }

            Loop.RunOnce(TimeSpan.Zero);
            Thread host = Thread.CurrentThread;
            work = HostCodeAsync();
            async Task HostCodeAsync()
            {
                for (int i = 0; i < 3; i++)
                {
                    HttpResponse response = await Client.FetchAsync(Server.Url("/hello"));
                    resumedOnHost.Add(Thread.CurrentThread == host && response.Code == 200);
                }
            }

            TickUntil(() => work.IsCompleted, TickBudget.Unlimited);
            Loop.DetachCurrentThread();
        }, TestTimeout);

        Assert.That(work!.IsCompletedSuccessfully, Is.True, () => work.Exception?.ToString() ?? "not completed");
        Assert.That(resumedOnHost, Is.EqualTo(new[] { true, true, true }), "every await resumed on the host thread, not the thread pool");
    }

    [Test]
    public void ConcurrentLargeFetches_UnderATightBudget_AllCompleteAndNoTickExceedsIt()
    {
        const int Fetches = 6;
        const int Size = 300_000;
        var budget = new TickBudget { MaxCallbacks = 1, MaxHandlers = 1 };
        var perTickHandlers = new List<long>();
        var perTickCurlActions = new List<long>();
        HttpResponse[] responses = [];
        Fds.RunBounded(() =>
        {
            Loop.AttachCurrentThread();
            Task all = FetchAllAsync();
            async Task FetchAllAsync() => responses = await Task.WhenAll(Enumerable.Range(0, Fetches)
                .Select(_ => Client.FetchAsync(new HttpRequest(Server.Url($"/large?size={Size}")), raiseError: false)));
            TickUntil(() => all.IsCompleted, budget, (handlers, curlActions) =>
            {
                perTickHandlers.Add(handlers);
                perTickCurlActions.Add(curlActions);
            });
            Loop.DetachCurrentThread();
        }, TestTimeout);

        Assert.That(responses.Select(r => (r.Code, r.Body.Length)), Is.All.EqualTo((200, Size)));
        Assert.That(responses.All(r => r.Body.All(b => b == (byte)'a')), Is.True);
        Assert.That(perTickHandlers, Is.All.LessThanOrEqualTo(1), "one ready handler per tick");
        if (Client is CurlAsyncHttpClient)
        {
            // curl_multi_socket_action runs only from a handler or a timer: at most the one
            // handler, the one callback or timer, and the timer phase's one guaranteed timer.
            Assert.That(perTickCurlActions, Is.All.LessThanOrEqualTo(3));
        }
    }

    /// <summary>Ticks as a host does (sleeping on the loop between ticks) until <paramref name="done"/>, bounded.</summary>
    private void TickUntil(Func<bool> done, TickBudget budget, Action<long, long>? perTick = null)
    {
        for (int tick = 0; tick < 100_000 && !done(); tick++)
        {
            long handlers = Loop.HandlerCalls;
            long curlActions = (Client as CurlAsyncHttpClient)?.SocketActionCalls ?? 0;
            Loop.RunOnce(TimeSpan.FromMilliseconds(100), budget);
            perTick?.Invoke(Loop.HandlerCalls - handlers, ((Client as CurlAsyncHttpClient)?.SocketActionCalls ?? 0) - curlActions);
        }

        Assert.That(done(), Is.True, "the host's work did not finish");
    }
}
