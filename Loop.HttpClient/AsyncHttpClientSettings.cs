namespace Loop.Http;

/// <summary>
/// What an <see cref="AsyncHttpClient"/> is built with (Tornado's <c>configure</c> and
/// constructor keyword arguments). Null means "not set": settings given to
/// <see cref="AsyncHttpClient.Create"/> win over those given to
/// <see cref="AsyncHttpClient.Configure{T}"/>, and those over the defaults documented here.
/// </summary>
public sealed record AsyncHttpClientSettings
{
    /// <summary>The default <see cref="MaxClients"/>: 10, as Tornado.</summary>
    public const int DefaultMaxClients = 10;

    /// <summary>The default <see cref="MaxHeaderSize"/>: 64 KiB.</summary>
    public const int DefaultMaxHeaderSize = 64 * 1024;

    /// <summary>The most requests in flight at once; more wait in a FIFO queue (the wait counts against their timeouts).</summary>
    public int? MaxClients { get; init; }

    /// <summary>Values for the options a request leaves unset.</summary>
    public HttpFetchOptions? Defaults { get; init; }

    /// <summary>
    /// Host names (or <c>host:port</c>) mapped to other hosts (or <c>host:port</c>), as a local
    /// <c>/etc/hosts</c> (Tornado's <c>hostname_mapping</c>; see <see cref="OverrideResolver"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string>? HostnameMapping { get; init; }

    /// <summary>The most bytes a connection buffers at once (its stream's <see cref="IOStreamOptions.MaxBufferSize"/>); 100 MiB. Not a limit on the body, which arrives in pieces: that is <see cref="MaxBodySize"/>.</summary>
    public int? MaxBufferSize { get; init; }

    /// <summary>The largest response header block accepted; 64 KiB.</summary>
    public int? MaxHeaderSize { get; init; }

    /// <summary>The largest response body accepted, counted after decompression; <see cref="MaxBufferSize"/> when not set.</summary>
    public long? MaxBodySize { get; init; }

    /// <summary>How host names are resolved; the system's resolver (off the loop thread) when not set.</summary>
    public IResolver? Resolver { get; init; }

    /// <summary>
    /// How long an idle keep-alive connection is kept for reuse; <see cref="DefaultIdleConnectionTimeout"/>.
    /// Zero keeps none. The curl client counts it in whole seconds, rounded up, and libcurl closes
    /// a connection idle for longer when it next looks for one to reuse.
    /// </summary>
    public TimeSpan? IdleConnectionTimeout { get; init; }

    /// <summary>The default <see cref="IdleConnectionTimeout"/>: 60 s.</summary>
    public static readonly TimeSpan DefaultIdleConnectionTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The most idle connections kept per origin; by default <see cref="MaxClients"/> (as many
    /// as can be busy at once, so a steady load never closes and reopens connections). Lower it
    /// to hold fewer sockets between bursts; the oldest idle connection goes first. The simple
    /// client only: libcurl's connection cache holds up to 4 × <see cref="MaxClients"/>
    /// connections in all.
    /// </summary>
    public int? MaxIdleConnectionsPerOrigin { get; init; }

    /// <summary>These settings, with what they leave unset taken from <paramref name="fallback"/>.</summary>
    public AsyncHttpClientSettings Over(AsyncHttpClientSettings? fallback) => fallback is null ? this : new AsyncHttpClientSettings
    {
        MaxClients = MaxClients ?? fallback.MaxClients,
        Defaults = Defaults ?? fallback.Defaults,
        HostnameMapping = HostnameMapping ?? fallback.HostnameMapping,
        MaxBufferSize = MaxBufferSize ?? fallback.MaxBufferSize,
        MaxHeaderSize = MaxHeaderSize ?? fallback.MaxHeaderSize,
        MaxBodySize = MaxBodySize ?? fallback.MaxBodySize,
        Resolver = Resolver ?? fallback.Resolver,
        IdleConnectionTimeout = IdleConnectionTimeout ?? fallback.IdleConnectionTimeout,
        MaxIdleConnectionsPerOrigin = MaxIdleConnectionsPerOrigin ?? fallback.MaxIdleConnectionsPerOrigin,
    };
}
