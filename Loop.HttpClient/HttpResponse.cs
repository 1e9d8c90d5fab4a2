namespace Loop.Http;

/// <summary>
/// The outcome of a fetch (Tornado's <c>HTTPResponse</c>). With <c>raiseError: false</c> a
/// response always comes back: one that arrived with a non-2xx code has <see cref="Error"/> set,
/// and when none arrived (a timeout, a refused connection, a malformed reply) <see cref="Code"/>
/// is 599 and <see cref="Error"/> says why.
/// </summary>
public sealed class HttpResponse
{
    private readonly byte[] _body;

    // The headers: an HttpHeaders, or the fields array a client parsed (shared copy-on-write with
    // other responses), made into an HttpHeaders when Headers is first read.
    private object _headers;

    // The phase timings a client measured, kept inline; TimeInfo makes their dictionary when
    // first read (most callers never read it), unless a dictionary was given or they did not fit.
    private readonly FetchTimes.Compact _times;
    private IReadOnlyDictionary<string, TimeSpan>? _timeInfo;

    /// <summary>Creates a response; clients build these, tests and fakes may too.</summary>
    /// <param name="request">The request as the caller gave it (not the copy with defaults filled in).</param>
    /// <param name="code">The status code, or 599 when no response arrived.</param>
    /// <param name="reason">The reason phrase; null takes the standard one for the code.</param>
    /// <param name="headers">The final response's headers; null for none.</param>
    /// <param name="body">The body (empty when it was streamed to a callback).</param>
    /// <param name="effectiveUrl">The URL the response came from, after redirects; null for the request's.</param>
    /// <param name="error">Why the fetch failed, if it did; for a non-2xx code without one, an <see cref="HttpClientError"/> is made.</param>
    /// <param name="requestTime">From the start of the request (after the queue) to its end.</param>
    /// <param name="startTime">Wall-clock time the fetch started.</param>
    /// <param name="timeInfo">Phase timings (queue, and what the client measures).</param>
    public HttpResponse(
        HttpRequest request,
        int code,
        string? reason = null,
        HttpHeaders? headers = null,
        byte[]? body = null,
        string? effectiveUrl = null,
        Exception? error = null,
        TimeSpan requestTime = default,
        DateTimeOffset startTime = default,
        IReadOnlyDictionary<string, TimeSpan>? timeInfo = null)
        : this(request, code, reason, (object)(headers ?? new HttpHeaders()), body, effectiveUrl, error, requestTime, startTime, timeInfo)
    {
    }

    /// <summary>A client's response, whose headers are the fields it parsed (<see cref="HttpHeaders.Publish"/>).</summary>
    internal HttpResponse(
        HttpRequest request,
        int code,
        string? reason,
        KeyValuePair<string, string>[] sharedHeaders,
        byte[]? body,
        string? effectiveUrl,
        Exception? error = null,
        TimeSpan requestTime = default,
        DateTimeOffset startTime = default,
        IReadOnlyDictionary<string, TimeSpan>? timeInfo = null)
        : this(request, code, reason, (object)sharedHeaders, body, effectiveUrl, error, requestTime, startTime, timeInfo)
    {
    }

    private HttpResponse(
        HttpRequest request,
        int code,
        string? reason,
        object headers,
        byte[]? body,
        string? effectiveUrl,
        Exception? error,
        TimeSpan requestTime,
        DateTimeOffset startTime,
        IReadOnlyDictionary<string, TimeSpan>? timeInfo)
    {
        ArgumentNullException.ThrowIfNull(request);
        Request = request;
        Code = code;
        Reason = reason ?? HttpStatus.ReasonFor(code);
        _headers = headers;
        _body = body ?? [];
        EffectiveUrl = effectiveUrl ?? request.Url;
        RequestTime = requestTime;
        StartTime = startTime;
        if (timeInfo is FetchTimes times)
        {
            // A client's own timings, which its fetch state reuses: the response keeps a copy.
            if (!FetchTimes.Compact.TryCapture(times, out _times))
            {
                _timeInfo = times.Clone();
            }
        }
        else
        {
            _timeInfo = timeInfo ?? new Dictionary<string, TimeSpan>();
        }

        Error = error ?? (code is < 200 or >= 300 ? new HttpClientError(code, Reason, this) : null);
    }

    /// <summary>The request as the caller gave it.</summary>
    public HttpRequest Request { get; }

    /// <summary>The status code; 599 when no response arrived.</summary>
    public int Code { get; }

    /// <summary>The reason phrase the server sent (or the standard one).</summary>
    public string Reason { get; }

    /// <summary>The final response's headers (not those of redirects followed on the way).</summary>
    /// <remarks>The same object each time it is read (a client's is made on first read; thread-safe).</remarks>
    public HttpHeaders Headers => _headers as HttpHeaders ?? MakeHeaders();

    /// <summary>The body; empty when a <see cref="HttpFetchOptions.StreamingCallback"/> took it.</summary>
    public byte[] Body => _body;

    /// <summary>The body as a read-only stream over the same bytes.</summary>
    public Stream BodyStream => new MemoryStream(_body, writable: false);

    /// <summary>The URL the response came from, after any redirects.</summary>
    public string EffectiveUrl { get; }

    /// <summary>Why the fetch failed: an <see cref="HttpClientError"/> for a non-2xx code or a failure before any response; null on success.</summary>
    public Exception? Error { get; }

    /// <summary>From the start of the request (after any wait in the queue) to its end.</summary>
    public TimeSpan RequestTime { get; }

    /// <summary>Wall-clock time at which the fetch started.</summary>
    public DateTimeOffset StartTime { get; }

    /// <summary>
    /// Phase timings: <c>queue</c> (the wait for a <c>maxClients</c> slot), and what the client
    /// measures (the simple client: <c>connect</c> and <c>total</c>; the curl client libcurl's).
    /// </summary>
    /// <remarks>The same object each time it is read (made on first read; thread-safe).</remarks>
    public IReadOnlyDictionary<string, TimeSpan> TimeInfo =>
        _timeInfo ?? Interlocked.CompareExchange(ref _timeInfo, _times.Expand(), null) ?? _timeInfo;

    private HttpHeaders MakeHeaders()
    {
        object current = _headers;
        if (current is HttpHeaders made)
        {
            return made;
        }

        var headers = HttpHeaders.OverShared((KeyValuePair<string, string>[])current);
        return ReferenceEquals(Interlocked.CompareExchange(ref _headers, headers, current), current) ? headers : (HttpHeaders)_headers;
    }

    /// <summary>Throws <see cref="Error"/> if there is one.</summary>
    public void Rethrow()
    {
        if (Error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Error);
        }
    }

    /// <summary>The code, the URL and the body length.</summary>
    public override string ToString() => $"HttpResponse(code={Code}, reason={Reason}, effectiveUrl={EffectiveUrl}, body={_body.Length} bytes)";
}
