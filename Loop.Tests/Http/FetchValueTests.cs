using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// <see cref="AsyncHttpClient.FetchValueAsync(HttpRequest, bool, CancellationToken)"/>: the same
/// outcomes as FetchAsync, from a pooled fetch state that serves one await and then the next fetch.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class FetchValueTests(Type clientType) : HttpClientFixture(clientType)
{
    [Test]
    public void FetchValueAsync_ReturnsTheResponse_AndResumesOnTheLoopThread() => Run(async () =>
    {
        HttpResponse response = await Client.FetchValueAsync(Server.Url("/hello?name=Value"));
        Assert.That(Loop.IsOnLoopThread, Is.True);
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(Text(response), Is.EqualTo("Hello Value!"));
        Assert.That(response.TimeInfo.Keys, Does.Contain("total"));
    });

    [Test]
    public void FetchValueAsync_ManyAtOnce_EachGetsItsOwnResponse() => Run(async () =>
    {
        // Every fetch has a state of its own while it runs; the states go back to the pool one
        // by one as the awaits take their results, and serve the next round.
        for (int round = 0; round < 3; round++)
        {
            string[] bodies = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
                Text(await Client.FetchValueAsync(Server.Url($"/hello?name={round}-{i}")))));
            Assert.That(bodies, Is.EqualTo(Enumerable.Range(0, 40).Select(i => $"Hello {round}-{i}!")));
        }
    });

    [Test]
    public void FetchValueAsync_NonSuccess_RaisesOrReturns_AsFetchAsyncDoes() => Run(async () =>
    {
        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await Client.FetchValueAsync(Server.Url("/not_found")));
        Assert.That(error.Code, Is.EqualTo(404));
        Assert.That(error.Response!.Code, Is.EqualTo(404));

        HttpResponse response = await Client.FetchValueAsync(Server.Url("/not_found"), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(404));
        Assert.That(response.Error, Is.TypeOf<HttpClientError>());

        HttpResponse refused = await Client.FetchValueAsync("http://127.0.0.1:1/", raiseError: false);
        Assert.That(refused.Code, Is.EqualTo(599));
    });

    [Test]
    public void FetchValueAsync_InvalidRequest_ThrowsAtTheCall()
    {
        var request = new HttpRequest(Server.Url("/hello"), headers: new HttpHeaders { { "X-Bad", "a\r\nb" } });
        Assert.Throws<ArgumentException>(() => Client.FetchValueAsync(request));
    }

    [Test]
    public void FetchValueAsync_Cancelled_EndsCancelled_AndTheClientGoesOn() => Run(async () =>
    {
        using var cancellation = new CancellationTokenSource();
        ValueTask<HttpResponse> hanging = Client.FetchValueAsync(Server.Url("/hang"), cancellationToken: cancellation.Token);
        Loop.CallLater(TimeSpan.FromMilliseconds(20), cancellation.Cancel);
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await hanging);
        Assert.That(Text(await Client.FetchValueAsync(Server.Url("/hello"))), Is.EqualTo("Hello world!"));
    });

    [Test]
    public void FetchValueAsync_AwaitedTwice_IsRefused() => Run(async () =>
    {
        ValueTask<HttpResponse> fetch = Client.FetchValueAsync(Server.Url("/hello"));
        Assert.That((await fetch).Code, Is.EqualTo(200));
        Assert.Throws<InvalidOperationException>(() => fetch.GetAwaiter().GetResult());

        // The state went back to the pool all the same, and serves the next fetch.
        Assert.That((await Client.FetchValueAsync(Server.Url("/hello"))).Code, Is.EqualTo(200));
    });

    [Test]
    public void FetchValueAsync_AsTask_CanBeCombined() => Run(async () =>
    {
        HttpResponse[] responses = await Task.WhenAll(
            Client.FetchValueAsync(Server.Url("/hello?name=a")).AsTask(),
            Client.FetchValueAsync(Server.Url("/hello?name=b")).AsTask());
        Assert.That(responses.Select(Text), Is.EqualTo(new[] { "Hello a!", "Hello b!" }));
    });

    [Test]
    public void FetchValueAsync_FromAnotherThread_RunsOnTheLoop() => Run(async () =>
    {
        // Off the loop thread it wraps FetchAsync's task; the fetch itself runs on the loop.
        HttpResponse response = await Task.Run(async () => await Client.FetchValueAsync(Server.Url("/hello")));
        Assert.That(Text(response), Is.EqualTo("Hello world!"));
    });
}
