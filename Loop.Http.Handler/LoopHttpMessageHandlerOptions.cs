namespace Loop.Http;

/// <summary>Which Loop client a <see cref="LoopHttpTransport"/> runs.</summary>
public enum LoopClientKind
{
    /// <summary><see cref="SimpleAsyncHttpClient"/>: HTTP/1.1 over Loop's own streams, no native dependency.</summary>
    Simple,

    /// <summary><c>Loop.Curl.CurlAsyncHttpClient</c>: libcurl (loaded at run time), HTTP/1.0, 1.1 and HTTP/2 over TLS.</summary>
    Curl,
}

/// <summary>
/// How a <see cref="LoopHttpMessageHandler"/> turns an <see cref="HttpRequestMessage"/> into a
/// fetch, and (for a handler or <c>AddLoop</c> that makes its own loop) which client it makes.
/// The handler copies the options when it is made: changing them afterwards changes nothing.
/// </summary>
/// <remarks>
/// The defaults are those of <see cref="SocketsHttpHandler"/> where the two have the same knob
/// (redirects followed, at most 50; no decompression; no connect timeout of the handler's own:
/// <see cref="HttpClient.Timeout"/> bounds the request), not the Loop client's own defaults
/// (Tornado's 20 s timeouts, 5 redirects, decompression on).
/// </remarks>
public sealed record LoopHttpMessageHandlerOptions
{
    /// <summary>The client a handler or transport makes for itself; <see cref="LoopClientKind.Simple"/> by default. Ignored by a handler given a client or a transport.</summary>
    public LoopClientKind Client { get; set; } = LoopClientKind.Simple;

    /// <summary>
    /// The most requests in flight at once on a client the handler or transport makes (more wait
    /// in a FIFO queue); null for the client's default, 10. Overrides
    /// <see cref="AsyncHttpClientSettings.MaxClients"/> of <see cref="ClientSettings"/>.
    /// </summary>
    public int? MaxClients { get; set; }

    /// <summary>
    /// Settings for a client the handler or transport makes. When they leave
    /// <see cref="AsyncHttpClientSettings.MaxBodySize"/> unset the body size is not limited (a
    /// streamed body is the caller's to bound, as with <see cref="HttpClient"/>).
    /// </summary>
    public AsyncHttpClientSettings? ClientSettings { get; set; }

    /// <summary>Follow 300, 301, 302, 303, 307 and 308 responses (never from https to http); true by default, as <see cref="SocketsHttpHandler.AllowAutoRedirect"/>.</summary>
    public bool AllowAutoRedirect { get; set; } = true;

    /// <summary>The most redirects followed for one request; 50 by default, as <see cref="SocketsHttpHandler.MaxAutomaticRedirections"/>. After that the last 3xx is returned.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1.</exception>
    public int MaxAutomaticRedirections
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = 50;

    /// <summary>
    /// Ask for gzip, deflate and br (<c>Accept-Encoding</c>) and decode the body as it arrives;
    /// the response then has no <c>Content-Encoding</c> or <c>Content-Length</c> content header
    /// (as <see cref="SocketsHttpHandler.AutomaticDecompression"/> does). Null takes the client's
    /// <see cref="AsyncHttpClientSettings.Defaults"/>, and without those false, as
    /// <see cref="System.Net.DecompressionMethods.None"/> is <see cref="SocketsHttpHandler"/>'s default.
    /// </summary>
    public bool? DecompressResponse { get; set; }

    /// <summary>
    /// Time allowed for resolving, connecting and the TLS handshake (the wait for one of the
    /// client's <c>MaxClients</c> slots counts too); past it the request fails with a
    /// <see cref="TaskCanceledException"/> around a <see cref="TimeoutException"/>. Null takes the
    /// client's <see cref="AsyncHttpClientSettings.Defaults"/>, and without those no limit: the
    /// Loop client's own 20 s default is not applied, so <see cref="HttpClient.Timeout"/> decides.
    /// </summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>
    /// Time allowed for the whole request, body included; past it the request (or the read of its
    /// body) fails with a <see cref="TaskCanceledException"/> around a <see cref="TimeoutException"/>.
    /// Null takes the client's <see cref="AsyncHttpClientSettings.Defaults"/>, and without those no
    /// limit: the Loop client's own 20 s default would cut in under <see cref="HttpClient.Timeout"/>
    /// (100 s), so it is not applied.
    /// </summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>
    /// The most response body bytes held between the loop and the reader of the content stream,
    /// in bytes (64 KiB by default): past it the loop stops reading the socket until the reader
    /// takes some, so a slow reader slows the server down instead of growing a buffer. One piece
    /// of the body as the client received it may come on top.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1024.</exception>
    public int ResponseBufferSize
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024);
            field = value;
        }
    } = 64 * 1024;

    /// <summary>The settings for a client made from these options: <see cref="ClientSettings"/> with <see cref="MaxClients"/> and an unlimited body size filled in.</summary>
    internal AsyncHttpClientSettings EffectiveClientSettings()
    {
        AsyncHttpClientSettings settings = ClientSettings ?? new AsyncHttpClientSettings();
        return settings with
        {
            MaxClients = MaxClients ?? settings.MaxClients,
            MaxBodySize = settings.MaxBodySize ?? long.MaxValue,
        };
    }
}
