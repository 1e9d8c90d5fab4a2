using Loop.Curl;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Reliability;

/// <summary>
/// Cancelling a fetch held in each phase (the phases of <see cref="CloseInEveryPhaseTests"/>):
/// the task is cancelled at once, whatever the server or the caller's own callback is doing, its
/// slot comes back, the client goes on working, and once closed it leaves no socket open.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class CancelInEveryPhaseTests(Type clientType) : HttpClientFixture(clientType)
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
    public void Cancel_WithTheFetchInThePhase_CancelsIt_AndItsSlotComesBack(FetchPhase phase) => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 2 });
        await using var scene = new PhaseScene(client);
        using var cancel = new CancellationTokenSource();
        Task<HttpResponse> fetch = await scene.StartAsync(phase, cancel.Token);
        cancel.Cancel();
        await Settle.OneAsync(fetch, Bound, phase.ToString());
        Assert.That(fetch.IsCanceled, Is.True, $"{phase}: {fetch.Status} {fetch.Exception?.GetBaseException()}");
        Assert.That(client.QueuedCount, Is.Zero, "still queued");
        Assert.That(client.ActiveCount, Is.EqualTo(scene.Fillers.Count), "slots held besides the fillers'");

        // The fetches that held the slots (queued phase) end normally once the server lets them.
        foreach (Task<HttpResponse> _ in scene.Fillers)
        {
            await Server.ReleaseNextAsync();
        }

        await Settle.AllAsync(scene.Fillers, Bound, _ => "a fetch holding a slot");
        Assert.That(scene.Fillers.Select(f => f.Result.Code), Is.All.EqualTo(200));
        Assert.That(client.ActiveCount, Is.Zero, "slots still held");
        HttpResponse after = await client.FetchAsync(new HttpRequest(Server.Url("/hello")) { RequestTimeout = Bound }, raiseError: false);
        Assert.That(after.Code, Is.EqualTo(200), after.Error?.Message);

        client.Close();
        await Settle.UntilAsync(() => scene.Ports.All(port => Fds.ClientSocketsTo(port).Count == scene.OwnSocketsTo(port)), Bound, "the closed client's sockets are closed");
    });
}
