using System.Net.Security;

namespace Loop.Http;

/// <summary>How credentials are sent (Tornado's <c>auth_mode</c> and <c>proxy_auth_mode</c>).</summary>
public enum HttpAuthMode
{
    /// <summary>RFC 7617 Basic: the credentials in every request (both clients).</summary>
    Basic,

    /// <summary>RFC 7616 Digest, answering the server's challenge (the curl client only; the simple client refuses it).</summary>
    Digest,
}

/// <summary>
/// The handle a curl-based client passes to <see cref="HttpFetchOptions.PrepareCurlCallback"/>,
/// so the application can set options Loop does not map. Other clients never call it.
/// </summary>
public interface ICurlHandle
{
    /// <summary>The native <c>CURL*</c> easy handle; valid only during the callback.</summary>
    nint Handle { get; }

    /// <summary><c>curl_easy_setopt</c> with a long argument; throws if libcurl refuses.</summary>
    void SetOption(int option, long value);

    /// <summary><c>curl_easy_setopt</c> with a string argument (libcurl copies it); throws if libcurl refuses.</summary>
    void SetOption(int option, string? value);
}

/// <summary>
/// The options of a request that a client's defaults can supply (Tornado's <c>HTTPRequest</c>
/// arguments other than the URL, method, headers and body). Null means "not set": a request's
/// value wins, then the client's defaults (<see cref="AsyncHttpClientSettings.Defaults"/>), then
/// Tornado's defaults, documented on each option.
/// </summary>
/// <remarks>A record: <c>with</c> makes a changed copy. <see cref="ToString"/> leaves out passwords.</remarks>
public record HttpFetchOptions
{
    /// <summary>Tornado's connect and request timeout when neither request nor client sets one: 20 seconds.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Redirects followed when nothing else is set: 5.</summary>
    public const int DefaultMaxRedirects = 5;

    /// <summary>
    /// User name for HTTP authentication (credentials in the URL are used when this is null).
    /// Basic credentials are sent NFC-normalised in UTF-8 (RFC 7617); a process running with
    /// invariant globalization has no normaliser and sends them as given.
    /// </summary>
    public string? AuthUsername { get; set; }

    /// <summary>Password for HTTP authentication.</summary>
    public string? AuthPassword { get; set; }

    /// <summary>How the credentials are sent; <see cref="HttpAuthMode.Basic"/> when not set.</summary>
    public HttpAuthMode? AuthMode { get; set; }

    /// <summary>
    /// Time allowed for resolving, connecting and the TLS handshake (and for waiting in the
    /// <c>maxClients</c> queue, as Tornado); 20 s when not set; <see cref="TimeSpan.Zero"/> for no limit.
    /// </summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>
    /// Time allowed for the whole fetch, from the call to the last byte, queue and redirects
    /// included; 20 s when not set; <see cref="TimeSpan.Zero"/> for no limit.
    /// </summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>Sends <c>If-Modified-Since</c> with this time (RFC 1123, GMT).</summary>
    public DateTimeOffset? IfModifiedSince { get; set; }

    /// <summary>Follow 301, 302, 303, 307 and 308 responses; true when not set.</summary>
    public bool? FollowRedirects { get; set; }

    /// <summary>The most redirects followed before the last 3xx is returned as an error response; 5 when not set.</summary>
    public int? MaxRedirects { get; set; }

    /// <summary>The <c>User-Agent</c> to send when the headers have none; the client's own name when not set.</summary>
    public string? UserAgent { get; set; }

    /// <summary>Ask for a compressed response (gzip, deflate, br) and decompress it as it arrives; true when not set.</summary>
    public bool? DecompressResponse { get; set; }

    /// <summary>The local interface to connect from: an IP address, or (Linux) an interface name.</summary>
    public string? NetworkInterface { get; set; }

    /// <summary>
    /// Receives each piece of the response body as it arrives (decompressed); the response's body
    /// then stays empty. The memory is valid only during the call.
    /// </summary>
    public Action<ReadOnlyMemory<byte>>? StreamingCallback { get; set; }

    /// <summary>
    /// As <see cref="StreamingCallback"/>, but awaited: no more of the body is read until the task
    /// it returns completes, so a slow consumer holds the server back (TCP flow control) instead of
    /// growing a buffer (Tornado's coroutine <c>streaming_callback</c>). The chunk is only valid
    /// until then. Runs on the loop thread. Not together with <see cref="StreamingCallback"/>.
    /// </summary>
    public Func<ReadOnlyMemory<byte>, ValueTask>? AsyncStreamingCallback { get; set; }

    /// <summary>
    /// Receives each header line of the final response as it arrives: the status line, each field
    /// and the closing empty line, every one with its CRLF. The response's headers are still filled.
    /// </summary>
    public Action<string>? HeaderCallback { get; set; }

    /// <summary>Called by a curl-based client with the easy handle before the transfer starts; ignored by the simple client.</summary>
    public Action<ICurlHandle>? PrepareCurlCallback { get; set; }

    /// <summary>An HTTP proxy's host; with <see cref="ProxyPort"/>, requests go through it.</summary>
    public string? ProxyHost { get; set; }

    /// <summary>The HTTP proxy's port.</summary>
    public int? ProxyPort { get; set; }

    /// <summary>User name for the proxy.</summary>
    public string? ProxyUsername { get; set; }

    /// <summary>Password for the proxy; empty when not set.</summary>
    public string? ProxyPassword { get; set; }

    /// <summary>How proxy credentials are sent; <see cref="HttpAuthMode.Basic"/> when not set.</summary>
    public HttpAuthMode? ProxyAuthMode { get; set; }

    /// <summary>Allow any method, and a body with any method or none; false when not set.</summary>
    public bool? AllowNonstandardMethods { get; set; }

    /// <summary>Verify the server's certificate and name over https; true when not set.</summary>
    public bool? ValidateCert { get; set; }

    /// <summary>A PEM file of CA certificates to trust instead of the system's.</summary>
    public string? CaCerts { get; set; }

    /// <summary>Use IPv6 addresses when the host has them; true when not set.</summary>
    public bool? AllowIpv6 { get; set; }

    /// <summary>A PEM file with the client certificate's private key.</summary>
    public string? ClientKey { get; set; }

    /// <summary>A PEM file with the client certificate (and its key when <see cref="ClientKey"/> is not set).</summary>
    public string? ClientCert { get; set; }

    /// <summary>
    /// TLS options to start from (Tornado's <c>ssl_options</c>), for the simple client: a cipher
    /// policy, a validation callback. <see cref="ValidateCert"/>, <see cref="CaCerts"/> and the
    /// client certificate still apply on top.
    /// </summary>
    public SslClientAuthenticationOptions? SslOptions { get; set; }

    /// <summary>
    /// The HTTP version to speak: null for the client's default. <see cref="SimpleAsyncHttpClient"/>
    /// speaks 1.1 only; the curl client takes 1.0, 1.1, and 2.0 (HTTP/2 over TLS through ALPN,
    /// 1.1 in clear text) when its libcurl has HTTP/2 (its default is libcurl's own).
    /// </summary>
    public Version? HttpVersion { get; set; }

    /// <summary>Send <c>Expect: 100-continue</c> and hold the body until the server agrees; false when not set.</summary>
    public bool? Expect100Continue { get; set; }

    /// <summary>The options, with the passwords left out.</summary>
    public override string ToString() => $"{GetType().Name} {{ ConnectTimeout = {ConnectTimeout}, RequestTimeout = {RequestTimeout}, FollowRedirects = {FollowRedirects}, ProxyHost = {ProxyHost} }}";

    /// <summary>Sets every option of this to <paramref name="source"/>'s.</summary>
    private protected void CopyOptionsFrom(HttpFetchOptions source)
    {
        AuthUsername = source.AuthUsername;
        AuthPassword = source.AuthPassword;
        AuthMode = source.AuthMode;
        ConnectTimeout = source.ConnectTimeout;
        RequestTimeout = source.RequestTimeout;
        IfModifiedSince = source.IfModifiedSince;
        FollowRedirects = source.FollowRedirects;
        MaxRedirects = source.MaxRedirects;
        UserAgent = source.UserAgent;
        DecompressResponse = source.DecompressResponse;
        NetworkInterface = source.NetworkInterface;
        StreamingCallback = source.StreamingCallback;
        AsyncStreamingCallback = source.AsyncStreamingCallback;
        HeaderCallback = source.HeaderCallback;
        PrepareCurlCallback = source.PrepareCurlCallback;
        ProxyHost = source.ProxyHost;
        ProxyPort = source.ProxyPort;
        ProxyUsername = source.ProxyUsername;
        ProxyPassword = source.ProxyPassword;
        ProxyAuthMode = source.ProxyAuthMode;
        AllowNonstandardMethods = source.AllowNonstandardMethods;
        ValidateCert = source.ValidateCert;
        CaCerts = source.CaCerts;
        AllowIpv6 = source.AllowIpv6;
        ClientKey = source.ClientKey;
        ClientCert = source.ClientCert;
        SslOptions = source.SslOptions;
        Expect100Continue = source.Expect100Continue;
        HttpVersion = source.HttpVersion;
    }

    /// <summary>Fills every option this one leaves unset from <paramref name="defaults"/>, then from Tornado's defaults.</summary>
    private protected void FillFrom(HttpFetchOptions? defaults)
    {
        AuthUsername ??= defaults?.AuthUsername;
        AuthPassword ??= defaults?.AuthPassword;
        AuthMode ??= defaults?.AuthMode ?? HttpAuthMode.Basic;
        ConnectTimeout ??= defaults?.ConnectTimeout ?? DefaultTimeout;
        RequestTimeout ??= defaults?.RequestTimeout ?? DefaultTimeout;
        IfModifiedSince ??= defaults?.IfModifiedSince;
        FollowRedirects ??= defaults?.FollowRedirects ?? true;
        MaxRedirects ??= defaults?.MaxRedirects ?? DefaultMaxRedirects;
        UserAgent ??= defaults?.UserAgent;
        DecompressResponse ??= defaults?.DecompressResponse ?? true;
        NetworkInterface ??= defaults?.NetworkInterface;
        StreamingCallback ??= defaults?.StreamingCallback;
        AsyncStreamingCallback ??= defaults?.AsyncStreamingCallback;
        HeaderCallback ??= defaults?.HeaderCallback;
        PrepareCurlCallback ??= defaults?.PrepareCurlCallback;
        ProxyHost ??= defaults?.ProxyHost;
        ProxyPort ??= defaults?.ProxyPort;
        ProxyUsername ??= defaults?.ProxyUsername;
        ProxyPassword ??= defaults?.ProxyPassword ?? string.Empty;
        ProxyAuthMode ??= defaults?.ProxyAuthMode ?? HttpAuthMode.Basic;
        AllowNonstandardMethods ??= defaults?.AllowNonstandardMethods ?? false;
        ValidateCert ??= defaults?.ValidateCert ?? true;
        CaCerts ??= defaults?.CaCerts;
        AllowIpv6 ??= defaults?.AllowIpv6 ?? true;
        ClientKey ??= defaults?.ClientKey;
        ClientCert ??= defaults?.ClientCert;
        SslOptions ??= defaults?.SslOptions;
        Expect100Continue ??= defaults?.Expect100Continue ?? false;
        HttpVersion ??= defaults?.HttpVersion;
    }
}
