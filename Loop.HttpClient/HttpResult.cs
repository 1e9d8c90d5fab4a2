namespace Loop.Http;

/// <summary>
/// The outcome of <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>:
/// what an <see cref="HttpResponse"/> says, as a value. A fetch that returns one makes no
/// response object when its answer is a 2xx, so a caller on the loop thread that streams the
/// body (<see cref="HttpFetchOptions.StreamingCallback"/>) and reuses its request allocates
/// nothing per fetch once the client is warm.
/// </summary>
/// <remarks>
/// The value owns what it refers to: the strings, the body array and the header fields are not
/// reused by later fetches, so a copy may be kept and read from any thread. A non-2xx answer or
/// a failure carries an <see cref="HttpClientError"/> in <see cref="Error"/> whose
/// <see cref="HttpClientError.Response"/> is a response object of its own, as
/// <c>FetchAsync</c> gives it. The default value has <see cref="Code"/> 0 and no request.
/// </remarks>
public readonly struct HttpResult
{
    // The headers as the response kept them: an HttpHeaders, or the fields array a client
    // parsed (shared copy-on-write with the connection's later responses).
    private readonly object? _headers;
    private readonly byte[]? _body;
    private readonly string? _reason;
    private readonly string? _effectiveUrl;

    /// <summary>Copies what <paramref name="response"/> says; a pooled body is copied out and its memory given back.</summary>
    internal HttpResult(HttpResponse response)
    {
        Request = response.Request;
        Code = response.Code;
        _reason = response.Reason;
        _headers = response.HeadersOrFields;
        _body = response.Body;
        response.Dispose(); // gives back a pooled body's memory (Body copied it); nothing for another

        _effectiveUrl = response.EffectiveUrl;
        Error = response.Error;
        RequestTime = response.RequestTime;
        StartTime = response.StartTime;
    }

    /// <summary>The request as the caller gave it; null for the default value.</summary>
    public HttpRequest? Request { get; }

    /// <summary>The status code; 599 when no response arrived (with <c>raiseError: false</c>).</summary>
    public int Code { get; }

    /// <summary>The reason phrase the server sent (or the standard one).</summary>
    public string Reason => _reason ?? string.Empty;

    /// <summary>
    /// The final response's headers. A read may make a new view over the fields (two small
    /// objects; a change made through one view copies the fields first and is not seen by the
    /// next read): read it once and keep the view when it is needed more than once.
    /// </summary>
    public HttpHeaders Headers => _headers switch
    {
        HttpHeaders headers => headers,
        KeyValuePair<string, string>[] fields => HttpHeaders.OverShared(fields),
        _ => new HttpHeaders(),
    };

    /// <summary>
    /// The body; empty when a <see cref="HttpFetchOptions.StreamingCallback"/> or a
    /// <see cref="HttpFetchOptions.BodyWriter"/> took it. The array behind it belongs to the
    /// caller (a pooled body arrives copied: <see cref="HttpFetchOptions.PooledBody"/> saves
    /// nothing here).
    /// </summary>
    public ReadOnlyMemory<byte> Body => _body;

    /// <summary>The URL the response came from, after any redirects.</summary>
    public string EffectiveUrl => _effectiveUrl ?? string.Empty;

    /// <summary>Why the fetch failed: an <see cref="HttpClientError"/> for a non-2xx code or a failure before any response; null on success.</summary>
    public Exception? Error { get; }

    /// <summary>From the start of the request (after any wait in the queue) to its end.</summary>
    public TimeSpan RequestTime { get; }

    /// <summary>Wall-clock time at which the fetch started.</summary>
    public DateTimeOffset StartTime { get; }

    /// <summary>Throws <see cref="Error"/> if there is one.</summary>
    public void Rethrow()
    {
        if (Error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Error);
        }
    }

    /// <summary>The code, the URL and the body length.</summary>
    public override string ToString() => $"HttpResult(code={Code}, reason={Reason}, effectiveUrl={EffectiveUrl}, body={_body?.Length ?? 0} bytes)";
}
