using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>: the
/// outcomes FetchAsync gives, as <see cref="HttpResult"/> values that stay as they were while the
/// client goes on (the simple client writes its 2xx answers into a response object it reuses).
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class FetchResultTests(Type clientType) : HttpClientFixture(clientType)
{
    [Test]
    public void FetchResultAsync_GivesWhatTheResponseSays_AndResumesOnTheLoopThread() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/all_methods"), method: "DELETE");
        HttpResult result = await Client.FetchResultAsync(request);
        Assert.That(Loop.IsOnLoopThread, Is.True);
        Assert.That(result.Code, Is.EqualTo(200));
        Assert.That(result.Reason, Is.EqualTo("OK"));
        Assert.That(result.Request, Is.SameAs(request));
        Assert.That(result.Headers["method"], Is.EqualTo("DELETE"));
        Assert.That(Encoding.ASCII.GetString(result.Body.Span), Is.EqualTo("DELETE"));
        Assert.That(result.EffectiveUrl, Is.EqualTo(request.Url));
        Assert.That(result.Error, Is.Null);
        Assert.That(result.RequestTime, Is.GreaterThan(TimeSpan.Zero));
        Assert.DoesNotThrow(result.Rethrow);
    });

    [Test]
    public void FetchResultAsync_KeptResult_IsUnchangedByLaterFetches() => Run(async () =>
    {
        // The same connection answers each fetch; the first result keeps its own code, headers
        // and body however many answers come after it.
        var get = new HttpRequest(Server.Url("/all_methods"));
        var delete = new HttpRequest(Server.Url("/all_methods"), method: "DELETE");
        HttpResult first = await Client.FetchResultAsync(get);
        HttpHeaders firstHeaders = first.Headers;
        var later = new List<HttpResult>();
        for (int i = 0; i < 5; i++)
        {
            later.Add(await Client.FetchResultAsync(delete));
            later.Add(await Client.FetchResultAsync(Server.Url("/hello?name=" + i)));
        }

        Assert.That(first.Headers["method"], Is.EqualTo("GET"));
        Assert.That(firstHeaders["method"], Is.EqualTo("GET"));
        Assert.That(Encoding.ASCII.GetString(first.Body.Span), Is.EqualTo("GET"));
        Assert.That(first.Request, Is.SameAs(get));
        Assert.That(later.Where((_, i) => i % 2 == 0).Select(r => r.Headers["method"]), Is.All.EqualTo("DELETE"));
        Assert.That(later.Where((_, i) => i % 2 == 1).Select(r => Encoding.ASCII.GetString(r.Body.Span)), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"Hello {i}!")));
    });

    [Test]
    public void FetchResultAsync_ChangingAResultsHeaders_ChangesNoOtherResult() => Run(async () =>
    {
        HttpResult first = await Client.FetchResultAsync(Server.Url("/hello"));
        HttpResult second = await Client.FetchResultAsync(Server.Url("/hello"));
        HttpHeaders changed = first.Headers;
        changed["Content-Type"] = "changed/by-caller";
        Assert.That(second.Headers["Content-Type"], Does.StartWith("text/plain"));
        Assert.That((await Client.FetchResultAsync(Server.Url("/hello"))).Headers["Content-Type"], Does.StartWith("text/plain"));
    });

    [Test]
    public void FetchResultAsync_NonSuccess_RaisesOrReturns_WithAResponseOfItsOwn() => Run(async () =>
    {
        HttpClientError error = await AsyncAssert.ThrowsAsync<HttpClientError>(async () => await Client.FetchResultAsync(Server.Url("/not_found")));
        Assert.That(error.Response!.Code, Is.EqualTo(404));

        HttpResult result = await Client.FetchResultAsync(Server.Url("/not_found"), raiseError: false);
        Assert.That(result.Code, Is.EqualTo(404));
        HttpClientError returned = (HttpClientError)result.Error!;
        Assert.Throws<HttpClientError>(result.Rethrow);

        // The error's response is not one a later answer is written into.
        Assert.That((await Client.FetchResultAsync(Server.Url("/hello"))).Code, Is.EqualTo(200));
        Assert.That(returned.Response!.Code, Is.EqualTo(404));
        Assert.That(error.Response.Code, Is.EqualTo(404));

        HttpResult refused = await Client.FetchResultAsync("http://127.0.0.1:1/", raiseError: false);
        Assert.That(refused.Code, Is.EqualTo(599));
        Assert.That(refused.Error, Is.InstanceOf<HttpClientError>());
    });

    [Test]
    public void FetchResultAsync_Streamed_HasAnEmptyBody_AndTheCallbackGetsIt() => Run(async () =>
    {
        var received = new StringBuilder();
        var request = new HttpRequest(Server.Url("/chunk")) { StreamingCallback = chunk => received.Append(Encoding.ASCII.GetString(chunk.Span)) };
        HttpResult result = await Client.FetchResultAsync(request);
        Assert.That(result.Code, Is.EqualTo(200));
        Assert.That(result.Body.IsEmpty, Is.True);
        Assert.That(received.ToString(), Is.EqualTo("asdfqwer"));
    });

    [Test]
    public void FetchResultAsync_PooledBody_ArrivesCopied() => Run(async () =>
    {
        HttpResult result = await Client.FetchResultAsync(new HttpRequest(Server.Url("/hello")) { PooledBody = true });
        Assert.That(Encoding.ASCII.GetString(result.Body.Span), Is.EqualTo("Hello world!"));
        Assert.That(Encoding.ASCII.GetString((await Client.FetchResultAsync(new HttpRequest(Server.Url("/hello?name=x")) { PooledBody = true })).Body.Span), Is.EqualTo("Hello x!"));
        Assert.That(Encoding.ASCII.GetString(result.Body.Span), Is.EqualTo("Hello world!"));
    });

    [Test]
    public void FetchResultAsync_ManyAtOnce_EachGetsItsOwnResult() => Run(async () =>
    {
        for (int round = 0; round < 3; round++)
        {
            HttpResult[] results = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
                await Client.FetchResultAsync(Server.Url($"/hello?name={round}-{i}"))));
            Assert.That(results.Select(r => Encoding.ASCII.GetString(r.Body.Span)), Is.EqualTo(Enumerable.Range(0, 40).Select(i => $"Hello {round}-{i}!")));
        }
    });

    [Test]
    public void FetchResultAsync_AwaitedTwice_IsRefused() => Run(async () =>
    {
        ValueTask<HttpResult> fetch = Client.FetchResultAsync(Server.Url("/hello"));
        Assert.That((await fetch).Code, Is.EqualTo(200));
        Assert.Throws<InvalidOperationException>(() => fetch.GetAwaiter().GetResult());
        Assert.That((await Client.FetchResultAsync(Server.Url("/hello"))).Code, Is.EqualTo(200));
    });

    [Test]
    public void FetchResultAsync_Cancelled_EndsCancelled_AndTheClientGoesOn() => Run(async () =>
    {
        using var cancellation = new CancellationTokenSource();
        ValueTask<HttpResult> hanging = Client.FetchResultAsync(Server.Url("/hang"), cancellationToken: cancellation.Token);
        Loop.CallLater(TimeSpan.FromMilliseconds(20), cancellation.Cancel);
        await AsyncAssert.ThrowsAsync<OperationCanceledException>(async () => await hanging);
        Assert.That((await Client.FetchResultAsync(Server.Url("/hello"))).Code, Is.EqualTo(200));
    });

    [Test]
    public void FetchResultAsync_FromAnotherThread_RunsOnTheLoop() => Run(async () =>
    {
        HttpResult result = await Task.Run(async () => await Client.FetchResultAsync(Server.Url("/hello")));
        Assert.That(Encoding.ASCII.GetString(result.Body.Span), Is.EqualTo("Hello world!"));
    });

    [Test]
    public void DefaultResult_ReadsAsEmpty()
    {
        HttpResult none = default;
        Assert.That(none.Code, Is.EqualTo(0));
        Assert.That(none.Request, Is.Null);
        Assert.That(none.Reason, Is.Empty);
        Assert.That(none.Headers.Count, Is.EqualTo(0));
        Assert.That(none.Body.IsEmpty, Is.True);
        Assert.That(none.Error, Is.Null);
    }
}
