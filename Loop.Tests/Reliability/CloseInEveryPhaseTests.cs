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

    [TestCase(FetchPhase.Queued)]
    [TestCase(FetchPhase.Connecting)]
    [TestCase(FetchPhase.TlsHandshake)]
    [TestCase(FetchPhase.SendingBody)]
    [TestCase(FetchPhase.WaitingForTheHead)]
    [TestCase(FetchPhase.MidBody)]
    [TestCase(FetchPhase.PausedInAsyncStreamingCallback)]
    [TestCase(FetchPhase.FollowingARedirect)]
    public void Close_WithAFetchInThePhase_FailsIt_AndLeavesNothingBehind(FetchPhase phase) => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        await using var scene = new PhaseScene(client);
        Task<HttpResponse> fetch = await scene.StartAsync(phase);
        await CloseAndCheckAsync(client, scene, [fetch], [phase.ToString()]);
    });

    [Test]
    public void Close_WithFetchesInEveryPhaseAtOnce_FailsThemAll_AndLeavesNothingBehind() => Run(async () =>
    {
        FetchPhase[] running = [.. Enum.GetValues<FetchPhase>().Where(p => p != FetchPhase.Queued)];
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = running.Length });
        await using var scene = new PhaseScene(client);
        var fetches = new List<Task<HttpResponse>>();
        foreach (FetchPhase phase in running)
        {
            fetches.Add(await scene.StartAsync(phase));
        }

        fetches.Add(await scene.StartAsync(FetchPhase.Queued));
        await CloseAndCheckAsync(client, scene, fetches, [.. running.Select(p => p.ToString()), nameof(FetchPhase.Queued)]);
    });

    [Test]
    public void Close_FromAnotherThread_WithFetchesRunningAndQueued_FailsThemAll() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        await using var scene = new PhaseScene(client);
        Task<HttpResponse> head = await scene.StartAsync(FetchPhase.WaitingForTheHead);
        Task<HttpResponse> queued = await scene.StartAsync(FetchPhase.Queued);
        Assert.That(head.IsCompleted || queued.IsCompleted, Is.False, "ended before Close");
        await Task.Run(client.Close);
        await CloseAndCheckAsync(client, scene, [head, queued], ["waiting for the head", "queued"], closedAlready: true);
    });

    /// <summary>Closes (again, if already closed: it must be idempotent) and checks that every fetch ended as a closed client's does and nothing is held.</summary>
    private async Task CloseAndCheckAsync(AsyncHttpClient client, PhaseScene scene, IReadOnlyList<Task<HttpResponse>> fetches, IReadOnlyList<string> names, bool closedAlready = false)
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
}
