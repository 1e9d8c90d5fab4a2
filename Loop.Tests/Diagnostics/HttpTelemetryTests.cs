using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Diagnostics;

/// <summary>
/// The Loop.Http meter, activity source and request logs, checked for both clients with a
/// <see cref="System.Diagnostics.Metrics.MeterListener"/> and an <see cref="ActivityListener"/>.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(Loop.Curl.CurlAsyncHttpClient))]
public sealed class HttpTelemetryTests(Type clientType) : HttpClientFixture(clientType)
{
    private bool IsCurl => ClientType == typeof(Loop.Curl.CurlAsyncHttpClient);

    [Test]
    public void Fetch_WithMeterListener_RecordsDurationActiveRequestsAndQueueTime() => Run(async () =>
    {
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        HttpResponse response = await Client.FetchAsync(Server.Url("/hello"));
        Assert.That(response.Code, Is.EqualTo(200));

        var duration = metrics.Of("http.client.request.duration").Single(m => Equals(m["server.port"], Server.Port));
        Assert.Multiple(() =>
        {
            Assert.That(duration.Value, Is.GreaterThan(0).And.LessThan(20));
            Assert.That(duration["http.request.method"], Is.EqualTo("GET"));
            Assert.That(duration["server.address"], Is.EqualTo("127.0.0.1"));
            Assert.That(duration["url.scheme"], Is.EqualTo("http"));
            Assert.That(duration["http.response.status_code"], Is.EqualTo(200));
            Assert.That(duration["network.protocol.version"], Is.EqualTo("1.1"));
            Assert.That(duration.Tags, Does.Not.ContainKey("error.type"));
        });

        var active = metrics.Of("http.client.active_requests").Where(m => Equals(m["server.port"], Server.Port)).Select(m => m.Value).ToList();
        Assert.That(active, Is.EqualTo(new[] { 1.0, -1.0 }), "counted in at the call, out at the end");
        var queue = metrics.Of("http.client.request.time_in_queue").Single(m => Equals(m["server.port"], Server.Port));
        Assert.That(queue.Value, Is.EqualTo(response.TimeInfo["queue"].TotalSeconds).Within(1e-6));
    });

    [Test]
    public void Fetch_QueuedBehindMaxClients_ReportsTheWaitAsTimeInQueue() => Run(async () =>
    {
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = 1 });
        Task<HttpResponse> first = client.FetchAsync(Server.Url("/trigger"));
        Task<HttpResponse> second = client.FetchAsync(Server.Url("/hello"));
        await Server.ReleaseNextAsync();
        await Task.WhenAll(first, second);
        var waits = metrics.Of("http.client.request.time_in_queue").Where(m => Equals(m["server.port"], Server.Port)).Select(m => m.Value).ToList();
        Assert.That(waits, Has.Count.EqualTo(2));
        Assert.That(waits.Max(), Is.EqualTo(second.Result.TimeInfo["queue"].TotalSeconds).Within(1e-6));
        Assert.That(waits.Max(), Is.GreaterThan(0));
    });

    [Test]
    public void Fetch_ErrorStatus_RecordsTheStatusAsErrorType() => Run(async () =>
    {
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        HttpResponse response = await Client.FetchAsync(Server.Url("/redirect?status=404"), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(404));
        var duration = metrics.Of("http.client.request.duration").Single(m => Equals(m["server.port"], Server.Port));
        Assert.That(duration["http.response.status_code"], Is.EqualTo(404));
        Assert.That(duration["error.type"], Is.EqualTo("404"));
    });

    [Test]
    public void Fetch_ConnectionRefused_RecordsConnectionErrorWithoutStatus() => Run(async () =>
    {
        int port = ClosedPort();
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        HttpResponse response = await Client.FetchAsync($"http://127.0.0.1:{port}/", raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        var duration = metrics.Of("http.client.request.duration").Single(m => Equals(m["server.port"], port));
        Assert.That(duration["error.type"], Is.EqualTo("connection_error"));
        Assert.That(duration.Tags, Does.Not.ContainKey("http.response.status_code"));
        Assert.That(metrics.Sum("http.client.active_requests", ("server.port", port)), Is.Zero);
    });

    [Test]
    public void KeepAliveConnection_IsCountedActiveThenIdle_AndTimedWhenClosed() => Run(async () =>
    {
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        AsyncHttpClient client = CreateClient();
        await client.FetchAsync(Server.Url("/hello"));
        await client.FetchAsync(Server.Url("/hello"));
        (string, object?) port = ("server.port", Server.Port);
        Assert.That(metrics.Sum("http.client.open_connections", port), Is.EqualTo(1), "one connection open, reused");
        Assert.That(metrics.Sum("http.client.open_connections", port, ("http.connection.state", "idle")), Is.EqualTo(1), "idle between requests");
        Assert.That(metrics.Sum("http.client.open_connections", port, ("http.connection.state", "active")), Is.Zero);
        Assert.That(metrics.Of("http.client.open_connections").Where(m => Equals(m["server.port"], Server.Port)).Select(m => m["url.scheme"]).Distinct(), Is.EqualTo(new[] { "http" }));

        client.Close();
        Assert.That(metrics.Sum("http.client.open_connections", port), Is.Zero, "the connection counted out as the client closed it");
        var lifetime = metrics.Of("http.client.connection.duration").Single(m => Equals(m["server.port"], Server.Port));
        Assert.That(lifetime.Value, Is.GreaterThan(0));
        Assert.That(lifetime["network.protocol.version"], Is.EqualTo("1.1"));
    });

    [Test]
    public void Fetch_ByName_RecordsTheDnsLookup() => Run(async () =>
    {
        using var metrics = new MetricCollector(HttpClientDiagnostics.MeterName);
        AsyncHttpClient client = CreateClient();
        HttpResponse response = await client.FetchAsync($"http://localhost:{Server.Port}/hello", raiseError: false);
        Assert.That(response.Code, Is.EqualTo(200), response.Error?.Message);
        var lookup = metrics.Of("dns.lookup.duration").Where(m => Equals(m["dns.question.name"], "localhost")).ToList();
        Assert.That(lookup, Is.Not.Empty);
        Assert.That(lookup[0].Value, Is.GreaterThanOrEqualTo(0));
    });

    [Test]
    public void Fetch_WithSamplingListener_MakesOneClientSpanAndSendsItsContext() => Run(async () =>
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.AllDataAndRecorded, stopped);
        using var parent = new Activity("test-parent").Start();
        HttpResponse response = await Client.FetchAsync(Server.Url("/echo_header?name=traceparent"));
        parent.Stop();

        Activity span = stopped.Single();
        Assert.Multiple(() =>
        {
            Assert.That(span.Kind, Is.EqualTo(ActivityKind.Client));
            Assert.That(span.DisplayName, Is.EqualTo("GET"));
            Assert.That(span.ParentSpanId, Is.EqualTo(parent.SpanId), "the caller's activity is the parent");
            Assert.That(span.TraceId, Is.EqualTo(parent.TraceId));
            Assert.That(span.GetTagItem("http.request.method"), Is.EqualTo("GET"));
            Assert.That(span.GetTagItem("server.address"), Is.EqualTo("127.0.0.1"));
            Assert.That(span.GetTagItem("server.port"), Is.EqualTo(Server.Port));
            Assert.That(span.GetTagItem("url.full"), Is.EqualTo($"http://127.0.0.1:{Server.Port}/echo_header?*"), "the query is redacted");
            Assert.That(span.GetTagItem("http.response.status_code"), Is.EqualTo(200));
            Assert.That(span.GetTagItem("network.protocol.version"), Is.EqualTo("1.1"));
            Assert.That(span.Status, Is.EqualTo(ActivityStatusCode.Unset));
            Assert.That(Encoding.ASCII.GetString(response.Body), Is.EqualTo($"00-{span.TraceId}-{span.SpanId}-01"), "traceparent carries the span");
            Assert.That(Activity.Current, Is.Null, "the loop thread's current activity is left as it was");
        });
    });

    [Test]
    public void Fetch_WithoutListener_SendsNoTraceparent() => Run(async () =>
    {
        using var parent = new Activity("test-parent").Start();
        HttpResponse response = await Client.FetchAsync(Server.Url("/echo_header?name=traceparent"));
        Assert.That(Encoding.ASCII.GetString(response.Body), Is.Empty);
    });

    [Test]
    public void Fetch_ListenerThatDoesNotSample_SendsNoTraceparent() => Run(async () =>
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.None, stopped);
        HttpResponse response = await Client.FetchAsync(Server.Url("/echo_header?name=traceparent"));
        Assert.That(Encoding.ASCII.GetString(response.Body), Is.Empty);
        Assert.That(stopped, Is.Empty);
    });

    [Test]
    public void Fetch_CallerSetsTraceparent_KeepsTheCallersOwn() => Run(async () =>
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.AllDataAndRecorded, stopped);
        const string own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var request = new HttpRequest(Server.Url("/echo_header?name=traceparent")) { Headers = { ["traceparent"] = own } };
        HttpResponse response = await Client.FetchAsync(request);
        Assert.That(Encoding.ASCII.GetString(response.Body), Is.EqualTo(own));
        Assert.That(stopped, Has.Count.EqualTo(1));
    });

    [Test]
    public void Fetch_FollowingRedirects_AddsAnEventPerRedirect() => Run(async () =>
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.AllDataAndRecorded, stopped);
        HttpResponse response = await Client.FetchAsync(Server.Url("/countdown/2"));
        Assert.That(response.Code, Is.EqualTo(200));
        Activity span = stopped.Single();
        var redirects = span.Events.Where(e => e.Name == "http.redirect").ToList();
        Assert.That(redirects, Has.Count.EqualTo(2));
        Assert.That(redirects[0].Tags.Single(t => t.Key == "http.response.status_code").Value, Is.EqualTo(302));
        Assert.That(redirects[0].Tags.Single(t => t.Key == "url.full").Value, Does.EndWith("/countdown/1"));
    });

    [Test]
    public void Fetch_Failing_MarksTheSpanAsError() => Run(async () =>
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.AllDataAndRecorded, stopped);
        HttpResponse response = await Client.FetchAsync($"http://127.0.0.1:{ClosedPort()}/", raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Activity span = stopped.Single();
        Assert.That(span.Status, Is.EqualTo(ActivityStatusCode.Error));
        Assert.That(span.GetTagItem("error.type"), Is.EqualTo("connection_error"));
    });

    [Test]
    public void Fetch_FromAnotherThread_ParentsTheSpanOnTheCallersActivity()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(ActivitySamplingResult.AllDataAndRecorded, stopped);
        AsyncHttpClient client = CreateClient();
        using var parent = new Activity("caller").Start();
        Task<HttpResponse> fetch = client.FetchAsync(Server.Url("/hello"));
        Assert.That(Activity.Current, Is.SameAs(parent), "the caller's current activity is unchanged by the call");
        Loop.RunSync(() => fetch, TestTimeout);
        Assert.That(stopped.Single().ParentSpanId, Is.EqualTo(parent.SpanId));
    }

    [Test]
    public void Fetch_Logs_StartAndEndAtDebug_AndNoHeaderValueAboveDebug() => Run(async () =>
    {
        var request = new HttpRequest(Server.Url("/hello?token=s3cr3t-query")) { Headers = { ["X-Secret"] = "s3cr3t-header" }, AuthUsername = "user", AuthPassword = "s3cr3t-password" };
        await Client.FetchAsync(request);
        Assert.That(Log.Entries.Where(e => e.EventId.Id == 201).Select(e => e.Level), Is.EqualTo(new[] { LogLevel.Debug }));
        TestLog.Entry end = Log.Entries.Single(e => e.EventId.Id == 204);
        Assert.That(end.Level, Is.EqualTo(LogLevel.Debug));
        Assert.That(end.Message, Does.Contain("200"));
        Assert.That(Log.Entries.Where(e => e.Level >= LogLevel.Debug).Select(e => e.Message), Has.None.Contains("s3cr3t"), "no header value, password or query at Debug or above");
    });

    [Test]
    public void Fetch_NewConnection_LogsTheConnectOrCurlTraceLines() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient();
        await client.FetchAsync(Server.Url("/hello"));
        if (IsCurl)
        {
            Assert.That(Log.Entries.Where(e => e.Message.StartsWith("curl ", StringComparison.Ordinal)).Select(e => e.Level).Distinct(), Is.EqualTo(new[] { LogLevel.Trace }), "curl's verbose output goes to Trace");
        }
        else
        {
            Assert.That(Log.Entries.Single(e => e.EventId.Id == 202).Message, Does.Contain($"127.0.0.1:{Server.Port}"));
        }
    });

    private static ActivityListener Listen(ActivitySamplingResult sampling, List<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == HttpClientDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampling,
            ActivityStopped = activity =>
            {
                lock (stopped)
                {
                    stopped.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
