using Loop.Curl;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Hostile;

/// <summary>
/// Every catalogue case against both clients: the outcome it must have, then, on the same loop
/// and client, a fetch from a healthy server that must succeed; once the client is closed no
/// socket to the hostile server may remain, and the fixture's teardown checks that no handler,
/// timer or callback was left and nothing unexpected was logged.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class HostileCatalogueTests(Type clientType) : HttpClientFixture(clientType)
{
    /// <summary>How long past its own timeout a fetch may take before it counts as hung.</summary>
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(5);

    [TestCaseSource(typeof(HostileCatalogue), nameof(HostileCatalogue.TestCases))]
    public void Fetch_HostileResponse_GivesTheCataloguedOutcome_AndTheClientStillWorks(HostileCase hostile) => Run(async () =>
    {
        using var server = CaseServer.Start(hostile.Replies);
        RequestShape shape = hostile.Request;
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = shape.MaxBodySize });
        var failures = new List<string>();

        HttpResponse? first = await FetchWithinAsync(client, RequestFor(hostile, server), failures, "first fetch");
        if (first is not null && hostile.Expected.Mismatch(first) is { } firstWrong)
        {
            failures.Add($"first fetch: {firstWrong}");
        }

        if (hostile.Second is { } expectedSecond)
        {
            // Another origin in between, as a busy client would have (and as the fuzzer had when
            // it found Found_FoldedFirstFieldAfterAFailedHead).
            await HealthyFetchAsync(client, failures, "healthy fetch between");

            // Once the first reply is served to its end (whatever came after the response is in
            // the client's socket), and the loop has turned a few times as it would in real life.
            await server.WhenServed(1).WaitAsync(TestTimeout);
            for (int i = 0; i < 5; i++)
            {
                await Task.Yield();
            }

            var again = new HttpRequest(server.Url(shape.Path)) { RequestTimeout = RequestShape.DefaultTimeout };
            HttpResponse? second = await FetchWithinAsync(client, again, failures, "second fetch");
            if (second is not null && expectedSecond.Mismatch(second) is { } secondWrong)
            {
                failures.Add($"second fetch on the same client: {secondWrong}");
            }
        }

        CheckRequests(hostile, server.Requests, failures);

        // The loop and the client still answer.
        await HealthyFetchAsync(client, failures, "healthy fetch afterwards");

        // Closed, the client holds no socket to the hostile server.
        client.Close();
        for (int i = 0; i < 100 && Fds.ClientSocketsTo(server.Port).Count > 0; i++)
        {
            await Task.Yield();
        }

        HashSet<string> left = Fds.ClientSocketsTo(server.Port);
        if (left.Count > 0)
        {
            failures.Add($"{left.Count} socket(s) to the hostile server still open after Close: {string.Join(", ", left)}");
        }

        Assert.That(failures, Is.Empty, hostile.ServerDoes);
    });

    private static async Task HealthyFetchAsync(AsyncHttpClient client, List<string> failures, string what)
    {
        HttpResponse? healthy = await FetchWithinAsync(client, new HttpRequest(Server.Url("/hello")) { RequestTimeout = RequestShape.DefaultTimeout }, failures, what);
        if (healthy is not null && (healthy.Code != 200 || Text(healthy) != "Hello world!"))
        {
            failures.Add($"{what}: {Outcome.Actual(healthy)}");
        }
    }

    private static HttpRequest RequestFor(HostileCase hostile, CaseServer server)
    {
        RequestShape shape = hostile.Request;
        byte[]? body = shape.UploadBytes > 0 ? new byte[shape.UploadBytes] : shape.Method is "POST" or "PUT" ? [] : null;
        return new HttpRequest(server.Url(shape.Path), shape.Method, null, body)
        {
            RequestTimeout = shape.Timeout,
            MaxRedirects = shape.MaxRedirects,
            DecompressResponse = shape.DecompressResponse,
        };
    }

    /// <summary>The fetch's response, or null (and a failure noted) if it did not complete in its timeout and some grace.</summary>
    private static async Task<HttpResponse?> FetchWithinAsync(AsyncHttpClient client, HttpRequest request, List<string> failures, string what)
    {
        TimeSpan limit = (request.RequestTimeout ?? RequestShape.DefaultTimeout) + s_grace;
        try
        {
            return await client.FetchAsync(request, raiseError: false).WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            failures.Add($"{what}: no outcome within {limit.TotalSeconds:0.#} s (hung)");
            return null;
        }
    }

    private static void CheckRequests(HostileCase hostile, IReadOnlyList<string> heads, List<string> failures)
    {
        if (hostile.RequestLines is { } lines)
        {
            for (int i = 0; i < lines.Count; i++)
            {
                if (i >= heads.Count || !heads[i].StartsWith(lines[i], StringComparison.Ordinal))
                {
                    failures.Add($"request {i + 1}: expected a head starting \"{lines[i]}\", got {(i < heads.Count ? $"\"{FirstLine(heads[i])}\"" : "none")}");
                }
            }
        }

        foreach (string never in hostile.NeverSent ?? [])
        {
            if (heads.FirstOrDefault(h => h.Contains(never, StringComparison.OrdinalIgnoreCase)) is { } head)
            {
                failures.Add($"a request carried \"{HttpProtocolError.Printable(never)}\": {HttpProtocolError.Printable(head)}");
            }
        }
    }

    private static string FirstLine(string head) => head.Split("\r\n")[0];
}
