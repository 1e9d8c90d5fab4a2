using System.Buffers;
using System.Diagnostics;
using Loop.Http.Body;

namespace Loop.Http;

/// <summary>
/// The outcome of a fetch (Tornado's <c>HTTPResponse</c>). With <c>raiseError: false</c> a
/// response always comes back: one that arrived with a non-2xx code has <see cref="Error"/> set,
/// and when none arrived (a timeout, a refused connection, a malformed reply) <see cref="Code"/>
/// is 599 and <see cref="Error"/> says why.
/// </summary>
/// <remarks>
/// A response to a request with <see cref="HttpFetchOptions.PooledBody"/> holds its body in memory
/// rented from a pool, and owns it: <see cref="Dispose"/> gives it back, after which the body is gone.
/// Dispose every response whose body may be pooled (disposing any other does nothing); one that is
/// never disposed only leaves its memory to the garbage collector. With <c>raiseError</c>, the
/// response of a non-2xx status is <see cref="HttpClientError.Response"/>.
/// </remarks>
public sealed class HttpResponse : IDisposable
{
    // The body: an array of exactly its size; for a pooled body, the copy Body made (null until then).
    private byte[]? _body;

    // A pooled body's memory and state, in an object of its own that only pooled responses
    // have: the others (most responses) carry one null reference instead of four fields.
    private PooledMemory? _pooled;

    // The headers: an HttpHeaders, or the fields array a client parsed (shared copy-on-write with
    // other responses), made into an HttpHeaders when Headers is first read.
    private object _headers;

    // The phase timings a client measured, kept inline; TimeInfo makes their dictionary when
    // first read (most callers never read it), unless a dictionary was given or they did not fit.
    private FetchTimes.Compact _times;
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
        : this(request, code, reason, (object)(headers ?? new HttpHeaders()), ResponseBody.Exact(body), effectiveUrl, error, requestTime, startTime, timeInfo)
    {
    }

    /// <summary>A client's response, whose headers are the fields it parsed (<see cref="HttpHeaders.Publish"/>) or its own <see cref="HttpHeaders"/>, and whose body may be pooled.</summary>
    internal HttpResponse(
        HttpRequest request,
        int code,
        string? reason,
        KeyValuePair<string, string>[] sharedHeaders,
        ResponseBody body,
        string? effectiveUrl,
        Exception? error = null,
        TimeSpan requestTime = default,
        DateTimeOffset startTime = default,
        IReadOnlyDictionary<string, TimeSpan>? timeInfo = null)
        : this(request, code, reason, (object)sharedHeaders, body, effectiveUrl, error, requestTime, startTime, timeInfo)
    {
    }

    /// <inheritdoc cref="HttpResponse(HttpRequest, int, string?, KeyValuePair{string, string}[], ResponseBody, string?, Exception?, TimeSpan, DateTimeOffset, IReadOnlyDictionary{string, TimeSpan}?)"/>
    internal HttpResponse(
        HttpRequest request,
        int code,
        string? reason,
        HttpHeaders headers,
        ResponseBody body,
        string? effectiveUrl,
        Exception? error = null,
        TimeSpan requestTime = default,
        DateTimeOffset startTime = default,
        IReadOnlyDictionary<string, TimeSpan>? timeInfo = null)
        : this(request, code, reason, (object)headers, body, effectiveUrl, error, requestTime, startTime, timeInfo)
    {
    }

    private HttpResponse(
        HttpRequest request,
        int code,
        string? reason,
        object headers,
        ResponseBody body,
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
        if (body.Pool is { } pool)
        {
            _pooled = new PooledMemory(pool, body.Array, body.Length);
        }
        else
        {
            _body = body.Array ?? [];
        }

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

    /// <summary>
    /// Fills this response again with a later 2xx response: only for the response a fetch state
    /// keeps for <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>,
    /// which no caller ever sees (they get an <see cref="HttpResult"/> copied from it).
    /// </summary>
    internal void Refill(HttpRequest request, int code, string? reason, KeyValuePair<string, string>[] sharedHeaders, byte[] body, string effectiveUrl, TimeSpan requestTime, DateTimeOffset startTime, FetchTimes times)
    {
        Debug.Assert(code is >= 200 and < 300, "only a 2xx response has no error to refer to it");
        Request = request;
        Code = code;
        Reason = reason ?? HttpStatus.ReasonFor(code);
        _headers = sharedHeaders;
        _pooled = null;
        _body = body;
        EffectiveUrl = effectiveUrl;
        RequestTime = requestTime;
        StartTime = startTime;
        _timeInfo = FetchTimes.Compact.TryCapture(times, out _times) ? null : times.Clone();
        Error = null;
    }

    /// <summary>
    /// Lets go of what a refilled response refers to (<see cref="Refill"/>), once its
    /// <see cref="HttpResult"/> was copied out: the fetch state keeps the object while it waits in
    /// its pool, and must not keep the caller's request or a large body alive meanwhile.
    /// </summary>
    internal void Forget()
    {
        Request = null!;
        _headers = Array.Empty<KeyValuePair<string, string>>();
        _body = [];
        EffectiveUrl = string.Empty;
        _timeInfo = null;
    }

    /// <summary>The headers as kept: an <see cref="HttpHeaders"/>, or the shared fields array not yet made into one.</summary>
    internal object HeadersOrFields => _headers;

    /// <summary>The request as the caller gave it.</summary>
    public HttpRequest Request { get; private set; }

    /// <summary>The status code; 599 when no response arrived.</summary>
    public int Code { get; private set; }

    /// <summary>The reason phrase the server sent (or the standard one).</summary>
    public string Reason { get; private set; }

    /// <summary>The final response's headers (not those of redirects followed on the way).</summary>
    /// <remarks>The same object each time it is read (a client's is made on first read; thread-safe).</remarks>
    public HttpHeaders Headers => _headers as HttpHeaders ?? MakeHeaders();

    /// <summary>
    /// The body; empty when a <see cref="HttpFetchOptions.StreamingCallback"/> or a
    /// <see cref="HttpFetchOptions.BodyWriter"/> took it. For a pooled body
    /// (<see cref="HttpFetchOptions.PooledBody"/>) this is a copy, made on first read (the same
    /// array after): use <see cref="BodyMemory"/> to avoid the copy.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The body is pooled, and the response was disposed before the copy was made.</exception>
    public byte[] Body => _body ?? CopyPooledBody();

    /// <summary>
    /// The body, without a copy, pooled or not: valid until <see cref="Dispose"/> for a pooled
    /// body (whose memory then goes back to its pool: do not keep it past that), for the response's
    /// lifetime otherwise.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The body is pooled and the response was disposed.</exception>
    public ReadOnlyMemory<byte> BodyMemory
    {
        get
        {
            if (_pooled is not { } pooled)
            {
                return _body;
            }

            byte[]? rented = pooled.Rented;
            ObjectDisposedException.ThrowIf(Volatile.Read(ref pooled.Disposed) != 0, this);
            return rented is null ? ReadOnlyMemory<byte>.Empty : new ReadOnlyMemory<byte>(rented, 0, pooled.Length);
        }
    }

    /// <summary>The body as a span, as <see cref="BodyMemory"/> (valid until <see cref="Dispose"/> for a pooled body).</summary>
    /// <exception cref="ObjectDisposedException">The body is pooled and the response was disposed.</exception>
    public ReadOnlySpan<byte> BodySpan => BodyMemory.Span;

    /// <summary>
    /// The body as a new read-only stream over the same bytes, without a copy; for a pooled body
    /// the stream reads the pooled memory, so it must not be read after <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The body is pooled and the response was disposed.</exception>
    public Stream BodyStream
    {
        get
        {
            if (_pooled is not { } pooled)
            {
                return new MemoryStream(_body!, writable: false);
            }

            byte[]? rented = pooled.Rented;
            ObjectDisposedException.ThrowIf(Volatile.Read(ref pooled.Disposed) != 0, this);
            return rented is null ? new MemoryStream([], writable: false) : new MemoryStream(rented, 0, pooled.Length, writable: false);
        }
    }

    /// <summary>Whether the body is in pooled memory that this response owns (<see cref="HttpFetchOptions.PooledBody"/>), whether or not it was disposed.</summary>
    public bool IsBodyPooled => _pooled is not null;

    /// <summary>The URL the response came from, after any redirects.</summary>
    public string EffectiveUrl { get; private set; }

    /// <summary>Why the fetch failed: an <see cref="HttpClientError"/> for a non-2xx code or a failure before any response; null on success.</summary>
    public Exception? Error { get; private set; }

    /// <summary>From the start of the request (after any wait in the queue) to its end.</summary>
    public TimeSpan RequestTime { get; private set; }

    /// <summary>Wall-clock time at which the fetch started.</summary>
    public DateTimeOffset StartTime { get; private set; }

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

    /// <summary>
    /// Returns a pooled body's memory to its pool; <see cref="BodyMemory"/>, <see cref="BodySpan"/>
    /// and <see cref="BodyStream"/> throw after it (<see cref="Body"/> too, unless its copy was made
    /// before). Does nothing for a body that is not pooled. Calling it again does nothing; two
    /// threads calling it at once return the memory once.
    /// </summary>
    public void Dispose()
    {
        if (_pooled is not { } pooled || Interlocked.Exchange(ref pooled.Disposed, 1) != 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref pooled.Rented, null) is { } rented)
        {
            pooled.Pool.Return(rented);
        }
    }

    private byte[] CopyPooledBody()
    {
        byte[] copy = BodyMemory.ToArray();
        return Interlocked.CompareExchange(ref _body, copy, null) ?? copy;
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
    public override string ToString() => $"HttpResponse(code={Code}, reason={Reason}, effectiveUrl={EffectiveUrl}, body={_pooled?.Length ?? _body!.Length} bytes)";

    /// <summary>A pooled body: the array rented from <see cref="Pool"/> (null once returned, or when nothing was rented), the body's length in it, and whether the response was disposed.</summary>
    private sealed class PooledMemory(ArrayPool<byte> pool, byte[]? rented, int length)
    {
        public readonly ArrayPool<byte> Pool = pool;
        public readonly int Length = length;
        public byte[]? Rented = rented;
        public int Disposed;
    }
}
