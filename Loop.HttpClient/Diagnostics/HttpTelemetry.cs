using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Loop.Http;

/// <summary>
/// The names under which the clients publish what they do, for OpenTelemetry and
/// <see cref="MeterListener"/>/<see cref="ActivityListener"/> users:
/// <c>.AddMeter(HttpClientDiagnostics.MeterName)</c>, <c>.AddSource(HttpClientDiagnostics.ActivitySourceName)</c>.
/// </summary>
/// <remarks>
/// <para>
/// The meter <c>Loop.Http</c> carries the instruments System.Net.Http publishes, with the same
/// names, units and attributes (OpenTelemetry's HTTP client semantic conventions), for both
/// clients: <c>http.client.request.duration</c> (s), <c>http.client.active_requests</c>,
/// <c>http.client.open_connections</c> (<c>http.connection.state</c> <c>active</c> or
/// <c>idle</c>), <c>http.client.request.time_in_queue</c> (s: the wait for a slot among
/// <see cref="AsyncHttpClient.MaxClients"/>, Tornado's <c>time_info["queue"]</c>),
/// <c>http.client.connection.duration</c> (s) and <c>dns.lookup.duration</c> (s).
/// The curl client counts the connections libcurl opens: <c>active</c> while libcurl watches the
/// socket for a transfer, <c>idle</c> while it keeps it unwatched in its cache; its
/// <c>dns.lookup.duration</c> is curl's name-lookup time of a transfer that opened a connection.
/// </para>
/// <para>
/// The activity source <c>Loop.Http</c> makes one client span per fetch (redirects included),
/// named after the method, with <c>http.request.method</c>, <c>server.address</c>,
/// <c>server.port</c>, <c>url.full</c> (user and password left out, the query replaced by
/// <c>*</c>), <c>http.response.status_code</c>, <c>network.protocol.version</c> and, on failure,
/// <c>error.type</c>; each redirect is an event <c>http.redirect</c>. When a listener creates the
/// span, the request carries its context in <c>traceparent</c>/<c>tracestate</c> (through
/// <see cref="DistributedContextPropagator.Current"/>), unless the request sets <c>traceparent</c>
/// itself; with no listener, nothing is added.
/// </para>
/// <para>
/// Nothing is allocated for any of this while no one listens.
/// </para>
/// </remarks>
public static class HttpClientDiagnostics
{
    /// <summary>The name of the clients' <see cref="Meter"/>: <c>Loop.Http</c>.</summary>
    public const string MeterName = "Loop.Http";

    /// <summary>The name of the clients' <see cref="ActivitySource"/>: <c>Loop.Http</c>.</summary>
    public const string ActivitySourceName = "Loop.Http";
}

/// <summary>The clients' meter, activity source and the helpers that feed them (see <see cref="HttpClientDiagnostics"/>).</summary>
internal static class HttpTelemetry
{
    private static readonly string? s_version = typeof(HttpTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly Meter Meter = new(HttpClientDiagnostics.MeterName, s_version);

    // The bucket boundaries System.Net.Http advises for its histograms (advice needs .NET 9).
    private static readonly double[] s_requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
    private static readonly double[] s_connectionBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

    public static readonly ActivitySource Source = new(HttpClientDiagnostics.ActivitySourceName, s_version);

    public static readonly Histogram<double> RequestDuration = Duration(
        "http.client.request.duration", "Duration of HTTP client requests.", s_requestBuckets);

    public static readonly UpDownCounter<long> ActiveRequests = Meter.CreateUpDownCounter<long>(
        "http.client.active_requests", "{request}", "Number of outbound HTTP requests that are currently active on the client.");

    public static readonly UpDownCounter<long> OpenConnections = Meter.CreateUpDownCounter<long>(
        "http.client.open_connections", "{connection}", "Number of outbound HTTP connections that are currently active or idle on the client.");

    public static readonly Histogram<double> TimeInQueue = Duration(
        "http.client.request.time_in_queue", "The amount of time requests spent on a queue waiting for an available connection.", s_requestBuckets);

    public static readonly Histogram<double> ConnectionDuration = Duration(
        "http.client.connection.duration", "The duration of successfully established outbound HTTP connections.", s_connectionBuckets);

    /// <summary>The resolver's histogram (Loop.IOStream's instance of this meter).</summary>
    public static Histogram<double> DnsLookupDuration => DnsTelemetry.LookupDuration;

    // Boxed once: a tag's value is an object.
    private static readonly object s_port80 = 80;
    private static readonly object s_port443 = 443;
    private static readonly object?[] s_statusCodes = new object?[600];
    private static readonly string?[] s_statusTexts = new string?[600];

    private static Histogram<double> Duration(string name, string description, double[] buckets)
    {
#if NET9_0_OR_GREATER
        return Meter.CreateHistogram(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
#else
        _ = buckets;
        return Meter.CreateHistogram<double>(name, "s", description);
#endif
    }

    /// <summary>Whether anything listens to the per-request instruments or the spans: when not, a fetch does nothing for telemetry.</summary>
    public static bool RequestObserved =>
        RequestDuration.Enabled || ActiveRequests.Enabled || TimeInQueue.Enabled || Source.HasListeners();

    public static object Port(int port) => port switch
    {
        80 => s_port80,
        443 => s_port443,
        _ => port,
    };

    public static object StatusCode(int code)
    {
        if ((uint)code < (uint)s_statusCodes.Length)
        {
            return s_statusCodes[code] ??= code;
        }

        return code;
    }

    /// <summary>A status code as text (<c>error.type</c> of an HTTP error), made once per code.</summary>
    public static string StatusText(int code) =>
        (uint)code < (uint)s_statusTexts.Length
            ? s_statusTexts[code] ??= code.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : code.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary><c>network.protocol.version</c> of a response version ("1.1", "2"…).</summary>
    public static string? ProtocolVersion(Version? version) => version switch
    {
        null => null,
        { Major: 1, Minor: 0 } => "1.0",
        { Major: 1, Minor: 1 } => "1.1",
        { Major: 2 } => "2",
        { Major: 3 } => "3",
        _ => version.ToString(),
    };

    /// <summary>
    /// <c>error.type</c> of a failed fetch: the status code of an HTTP error, or for a failure
    /// without a response the name System.Net.Http gives the same failure (its
    /// <c>HttpRequestError</c> in snake case), <c>cancelled</c>, or the exception's type.
    /// </summary>
    public static string ErrorType(Exception error) => error switch
    {
        HttpTimeoutError => "timeout",
        HttpConnectError { InnerException: ResolveException } => "name_resolution_error",
        HttpConnectError => "connection_error",
        HttpTlsError => "secure_connection_error",
        HttpProtocolError => "invalid_response",
        HttpContentDecodingError => "invalid_response",
        HttpStreamClosedError => "response_ended",
        HttpBodyTooLargeError => "configuration_limit_exceeded",
        OperationCanceledException => "cancelled",
        HttpClientError { Code: not 599 } http => StatusText(http.Code),
        HttpClientError { InnerException: { } inner } => inner.GetType().FullName ?? "_OTHER",
        _ => error.GetType().FullName ?? "_OTHER",
    };

    /// <summary><c>url.full</c> as System.Net.Http reports it: no user or password, the query replaced by <c>*</c>.</summary>
    public static string RedactedUrl(Uri uri)
    {
        string withoutQuery = uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        return uri.Query.Length > 1 ? withoutQuery + "?*" : withoutQuery;
    }

    /// <summary>A redirect's target as <see cref="RedactedUrl"/> shows a URL (a relative one as it is, less its query).</summary>
    public static string RedactedLocation(string location)
    {
        if (Uri.TryCreate(location, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            return RedactedUrl(uri);
        }

        int query = location.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? location : string.Concat(location.AsSpan(0, query), "?*");
    }

    /// <summary>The attributes every request instrument carries.</summary>
    public static TagList RequestTags(string method, RequestUrl url)
    {
        var tags = new TagList
        {
            { "http.request.method", method },
            { "server.address", url.Host },
            { "server.port", Port(url.Port) },
            { "url.scheme", url.IsHttps ? "https" : "http" },
        };
        return tags;
    }

    /// <summary>The attributes of a connection's instruments.</summary>
    public static TagList ConnectionTags(string host, int port, bool https, string? peerAddress, string protocolVersion)
    {
        var tags = new TagList
        {
            { "network.protocol.version", protocolVersion },
            { "server.address", host },
            { "server.port", Port(port) },
            { "url.scheme", https ? "https" : "http" },
        };
        if (peerAddress is not null)
        {
            tags.Add("network.peer.address", peerAddress);
        }

        return tags;
    }

    /// <summary>Records a DNS lookup of <paramref name="host"/> that took <paramref name="seconds"/> (and failed with <paramref name="error"/>, if given).</summary>
    public static void RecordDnsLookup(string host, double seconds, Exception? error) => DnsTelemetry.Record(host, seconds, error);

    /// <summary>
    /// Starts the span of a fetch, on the caller's thread (its <see cref="Activity.Current"/> is
    /// the parent), and leaves <see cref="Activity.Current"/> as it was: the fetch goes on on the
    /// loop. Null when no listener wants it.
    /// </summary>
    public static Activity? StartActivity(HttpRequest request, RequestUrl url)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity? previous = Activity.Current;
        Activity? activity = Source.StartActivity("Loop.Http.Request", ActivityKind.Client);
        if (activity is null)
        {
            return null;
        }

        Activity.Current = previous;
        activity.DisplayName = request.Method;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag("http.request.method", request.Method);
            activity.SetTag("server.address", url.Host);
            activity.SetTag("server.port", Port(url.Port));
            activity.SetTag("url.full", RedactedUrl(url.Uri));
        }

        if (request.HeadersOrNull?.Contains("traceparent") != true)
        {
            DistributedContextPropagator.Current.Inject(activity, request.Headers, static (carrier, name, value) =>
            {
                if (carrier is HttpHeaders headers && value is not null)
                {
                    headers[name] = value;
                }
            });
        }

        return activity;
    }

    /// <summary>Adds a redirect event to the span of a fetch.</summary>
    public static void AddRedirect(Activity activity, int status, string location)
    {
        if (!activity.IsAllDataRequested)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            { "http.response.status_code", StatusCode(status) },
            { "url.full", RedactedLocation(location) },
        };
        activity.AddEvent(new ActivityEvent("http.redirect", tags: tags));
    }

    /// <summary>Ends the span of a fetch with its outcome (on the loop thread; <see cref="Activity.Current"/> is left as it was).</summary>
    public static void StopActivity(Activity activity, HttpResponse? response, Exception? error, string? protocolVersion)
    {
        if (activity.IsAllDataRequested)
        {
            if (response is not null && response.Code != 599)
            {
                activity.SetTag("http.response.status_code", StatusCode(response.Code));
                if (protocolVersion is not null)
                {
                    activity.SetTag("network.protocol.version", protocolVersion);
                }
            }

            Exception? failure = error ?? (response is { Code: 599 } ? response.Error : null);
            if (failure is not null || response is { Code: >= 400 })
            {
                string type = failure is not null ? ErrorType(failure) : StatusText(response!.Code);
                activity.SetTag("error.type", type);
                activity.SetStatus(ActivityStatusCode.Error, failure?.Message);
            }
        }

        Activity? current = Activity.Current;
        activity.Stop();
        Activity.Current = current;
    }
}
