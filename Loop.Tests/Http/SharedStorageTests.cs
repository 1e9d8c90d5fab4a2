using System.Text;
using Loop.Http;
using Loop.Http.Simple;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// What the allocation savings must not change: a request's options kept aside still copy and
/// compare by value, response headers sharing storage stay independent, and TimeInfo made on
/// first read holds what the client measured.
/// </summary>
public sealed class SharedStorageTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    [Test]
    public void RequestWith_RareOptionsSet_CopyIsIndependentAndEqualByValue()
    {
        var request = new HttpRequest("http://example.com/") { RequestTimeout = TimeSpan.FromSeconds(3), ProxyHost = "proxy", AllowIpv6 = false };
        HttpRequest copy = request with { };
        Assert.That(copy, Is.EqualTo(request));
        Assert.That(copy.GetHashCode(), Is.EqualTo(request.GetHashCode()));

        copy.RequestTimeout = TimeSpan.FromSeconds(4);
        copy.ProxyHost = null;
        Assert.That(request.RequestTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)), "the original keeps its options");
        Assert.That(request.ProxyHost, Is.EqualTo("proxy"));
        Assert.That(copy, Is.Not.EqualTo(request));

        HttpRequest changed = request with { ConnectTimeout = TimeSpan.FromSeconds(1) };
        Assert.That(request.ConnectTimeout, Is.Null);
        Assert.That(changed.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(changed.RequestTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(changed.AllowIpv6, Is.False);
    }

    [Test]
    public void OptionsEquality_OptionSetThenUnset_EqualsOneNeverSet()
    {
        // The options object is made on the first set; clearing the option again must compare as unset.
        var touched = new HttpRequest("http://example.com/") { UserAgent = "x" };
        touched.UserAgent = null;
        var plain = new HttpRequest("http://example.com/");
        Assert.That(touched, Is.EqualTo(plain));
        Assert.That(touched.GetHashCode(), Is.EqualTo(plain.GetHashCode()));

        var two = new HttpFetchOptions { MaxRedirects = 2 };
        Assert.That(two, Is.EqualTo(new HttpFetchOptions { MaxRedirects = 2 }));
        Assert.That(two, Is.Not.EqualTo(new HttpFetchOptions { MaxRedirects = 3 }));
        Assert.That(new HttpFetchOptions(), Is.Not.EqualTo(new HttpRequest("http://example.com/")), "a request is not a bare set of options");
    }

    [Test]
    public void OptionsSetToNull_OnANewRequest_ReadAsUnset()
    {
        var request = new HttpRequest("http://example.com/") { ProxyHost = null, RequestTimeout = null };
        Assert.That(request.ProxyHost, Is.Null);
        Assert.That(request.RequestTimeout, Is.Null);
        Assert.That(request, Is.EqualTo(new HttpRequest("http://example.com/")));
    }

    [Test]
    public void ResponseHeaders_SameFieldsAsThePrevious_ChangingOneLeavesTheOthers()
    {
        byte[] block = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nServer: raw\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
        var head = new ResponseHead();
        var responses = new List<HttpHeaders>();
        for (int i = 0; i < 3; i++)
        {
            head.Parse(block, keepRawLines: false);
            responses.Add(HttpHeaders.OverShared(head.PublishFields()));
        }

        responses[0].Add("X-Mine", "1");
        responses[0]["Server"] = "changed";
        Assert.That(responses[1].Remove("Content-Type"), Is.True);
        responses[2].Clear();

        head.Parse(block, keepRawLines: false);
        HttpHeaders next = HttpHeaders.OverShared(head.PublishFields());
        Assert.That(responses[0].ToString(), Is.EqualTo("Server: changed\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Mine: 1\r\n"));
        Assert.That(responses[1].ToString(), Is.EqualTo("Server: raw\r\nContent-Length: 5\r\n"));
        Assert.That(responses[2].Count, Is.Zero);
        Assert.That(next.ToString(), Is.EqualTo("Server: raw\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"));
    }

    [Test]
    public void ResponseHeaders_AFieldChanges_TheNextResponseHasItsOwn()
    {
        var head = new ResponseHead();
        head.Parse(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nDate: one\r\nServer: raw\r\n\r\n"), keepRawLines: false);
        HttpHeaders first = HttpHeaders.OverShared(head.PublishFields());
        head.Parse(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nDate: two\r\nServer: raw\r\n\r\n"), keepRawLines: false);
        HttpHeaders second = HttpHeaders.OverShared(head.PublishFields());
        Assert.That(first["Date"], Is.EqualTo("one"));
        Assert.That(second["Date"], Is.EqualTo("two"));
    }

    [Test]
    public void KeepAliveResponses_HeadersChangedByTheCaller_NextResponsesUnaffected() => Run(async () =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        string url = raw.Url();
        HttpResponse first = await Client.FetchAsync(url);
        HttpResponse second = await Client.FetchAsync(url);
        HttpHeaders firstHeaders = first.Headers;
        Assert.That(first.Headers, Is.SameAs(firstHeaders), "one collection per response");
        first.Headers["Server"] = "mine";
        first.Headers.Add("X-Extra", "1");
        second.Headers.Remove("Content-Type");
        HttpResponse third = await Client.FetchAsync(url);
        Assert.That(raw.ConnectionCount, Is.EqualTo(1), "the responses came on one connection");
        Assert.That(first.Headers["Server"], Is.EqualTo("mine"));
        Assert.That(second.Headers.Contains("Content-Type"), Is.False);
        Assert.That(second.Headers["Server"], Is.EqualTo("raw"));
        Assert.That(third.Headers.ToString(), Is.EqualTo("Server: raw\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"));
    });

    [Test]
    public void TimeInfo_MadeOnFirstRead_HoldsTheMeasuredPhasesEachTime() => Run(async () =>
    {
        using var raw = AllocationProbe.Answering("Hello, world!");
        HttpResponse response = await Client.FetchAsync(raw.Url());
        await Client.FetchAsync(raw.Url());

        // Read after the fetch state that measured it served another fetch: still this fetch's.
        IReadOnlyDictionary<string, TimeSpan> times = response.TimeInfo;
        Assert.That(response.TimeInfo, Is.SameAs(times));
        Assert.That(times.Keys, Is.EqualTo(new[] { "queue", "connect", "pretransfer", "starttransfer", "total" }));
        Assert.That(times.Count, Is.EqualTo(5));
        Assert.That(times["total"], Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(response.RequestTime));
        Assert.That(times.TryGetValue("redirect", out _), Is.False);
        Assert.That(times.Values, Is.EqualTo(times.Keys.Select(key => times[key])));
    });

    [Test]
    public void ResponseConstructor_GivenTimeInfo_KeepsIt()
    {
        var given = new Dictionary<string, TimeSpan> { ["total"] = TimeSpan.FromMilliseconds(5) };
        var response = new HttpResponse(new HttpRequest("http://example.com/"), 200, timeInfo: given);
        Assert.That(response.TimeInfo, Is.SameAs(given));
        Assert.That(new HttpResponse(new HttpRequest("http://example.com/"), 200).TimeInfo, Is.Empty);
    }

    [Test]
    public void ResponseConstructor_ClientTimes_CopiedSoLaterUseLeavesThem()
    {
        var times = new FetchTimes();
        times.Set(FetchTimes.Queue, TimeSpan.Zero);
        times.Set(FetchTimes.Total, TimeSpan.FromTicks(1234567));
        var compact = new HttpResponse(new HttpRequest("http://example.com/"), 200, timeInfo: times);

        // Longer than the inline copy holds (about 7 minutes): kept whole.
        times.Set(FetchTimes.Total, TimeSpan.FromMinutes(10));
        var wide = new HttpResponse(new HttpRequest("http://example.com/"), 200, timeInfo: times);

        times.Clear();
        times.Set(FetchTimes.Connect, TimeSpan.FromSeconds(1));
        Assert.That(compact.TimeInfo, Is.EqualTo(new Dictionary<string, TimeSpan> { ["queue"] = TimeSpan.Zero, ["total"] = TimeSpan.FromTicks(1234567) }));
        Assert.That(wide.TimeInfo, Is.EqualTo(new Dictionary<string, TimeSpan> { ["queue"] = TimeSpan.Zero, ["total"] = TimeSpan.FromMinutes(10) }));
    }
}
