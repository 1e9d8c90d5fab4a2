using System.Buffers;
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

    private static readonly OptionFields s_unset;

    // The options live in a separate object made when the first one is set: most requests set
    // none, and a request then costs its URL, method, headers and body only (about 64 bytes, not
    // the 290 that thirty nullable options stored inline would take).
    private OptionBox? _box;

    /// <summary>Creates a set of options, all unset.</summary>
    public HttpFetchOptions()
    {
    }

    /// <summary>The copy <c>with</c> makes: its options are its own (setting one leaves <paramref name="original"/> as it was).</summary>
    protected HttpFetchOptions(HttpFetchOptions original)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (original._box is { } box)
        {
            _box = new OptionBox { Fields = box.Fields };
        }
    }

    /// <summary>
    /// User name for HTTP authentication (credentials in the URL are used when this is null).
    /// Basic credentials are sent NFC-normalised in UTF-8 (RFC 7617); a process running with
    /// invariant globalization has no normaliser and sends them as given.
    /// </summary>
    public string? AuthUsername
    {
        get => _box?.Fields.AuthUsername;
        set => BoxFor(value is not null)?.Fields.AuthUsername = value;
    }

    /// <summary>Password for HTTP authentication.</summary>
    public string? AuthPassword
    {
        get => _box?.Fields.AuthPassword;
        set => BoxFor(value is not null)?.Fields.AuthPassword = value;
    }

    /// <summary>How the credentials are sent; <see cref="HttpAuthMode.Basic"/> when not set.</summary>
    public HttpAuthMode? AuthMode
    {
        get => _box?.Fields.AuthMode;
        set => BoxFor(value is not null)?.Fields.AuthMode = value;
    }

    /// <summary>
    /// Time allowed for resolving, connecting and the TLS handshake (and for waiting in the
    /// <c>maxClients</c> queue, as Tornado); 20 s when not set; <see cref="TimeSpan.Zero"/> for no limit.
    /// </summary>
    public TimeSpan? ConnectTimeout
    {
        get => _box?.Fields.ConnectTimeout;
        set => BoxFor(value is not null)?.Fields.ConnectTimeout = value;
    }

    /// <summary>
    /// Time allowed for the whole fetch, from the call to the last byte, queue and redirects
    /// included; 20 s when not set; <see cref="TimeSpan.Zero"/> for no limit.
    /// </summary>
    public TimeSpan? RequestTimeout
    {
        get => _box?.Fields.RequestTimeout;
        set => BoxFor(value is not null)?.Fields.RequestTimeout = value;
    }

    /// <summary>Sends <c>If-Modified-Since</c> with this time (RFC 1123, GMT).</summary>
    public DateTimeOffset? IfModifiedSince
    {
        get => _box?.Fields.IfModifiedSince;
        set => BoxFor(value is not null)?.Fields.IfModifiedSince = value;
    }

    /// <summary>Follow 301, 302, 303, 307 and 308 responses; true when not set.</summary>
    public bool? FollowRedirects
    {
        get => _box?.Fields.FollowRedirects;
        set => BoxFor(value is not null)?.Fields.FollowRedirects = value;
    }

    /// <summary>The most redirects followed before the last 3xx is returned as an error response; 5 when not set.</summary>
    public int? MaxRedirects
    {
        get => _box?.Fields.MaxRedirects;
        set => BoxFor(value is not null)?.Fields.MaxRedirects = value;
    }

    /// <summary>The <c>User-Agent</c> to send when the headers have none; the client's own name when not set.</summary>
    public string? UserAgent
    {
        get => _box?.Fields.UserAgent;
        set => BoxFor(value is not null)?.Fields.UserAgent = value;
    }

    /// <summary>Ask for a compressed response (gzip, deflate, br) and decompress it as it arrives; true when not set.</summary>
    public bool? DecompressResponse
    {
        get => _box?.Fields.DecompressResponse;
        set => BoxFor(value is not null)?.Fields.DecompressResponse = value;
    }

    /// <summary>The local interface to connect from: an IP address, or (Linux) an interface name.</summary>
    public string? NetworkInterface
    {
        get => _box?.Fields.NetworkInterface;
        set => BoxFor(value is not null)?.Fields.NetworkInterface = value;
    }

    /// <summary>
    /// Receives each piece of the response body as it arrives (decompressed); the response's body
    /// then stays empty. The memory is valid only during the call.
    /// </summary>
    public Action<ReadOnlyMemory<byte>>? StreamingCallback
    {
        get => _box?.Fields.StreamingCallback;
        set => BoxFor(value is not null)?.Fields.StreamingCallback = value;
    }

    /// <summary>
    /// As <see cref="StreamingCallback"/>, but awaited: no more of the body is read until the task
    /// it returns completes, so a slow consumer holds the server back (TCP flow control) instead of
    /// growing a buffer (Tornado's coroutine <c>streaming_callback</c>). The chunk is only valid
    /// until then. Runs on the loop thread. Not together with <see cref="StreamingCallback"/>.
    /// </summary>
    public Func<ReadOnlyMemory<byte>, ValueTask>? AsyncStreamingCallback
    {
        get => _box?.Fields.AsyncStreamingCallback;
        set => BoxFor(value is not null)?.Fields.AsyncStreamingCallback = value;
    }

    /// <summary>
    /// Receive the final response's body into memory rented from the client's pool instead of a new
    /// array of its size, so that large bodies do not land on the large object heap; false when not
    /// set. (The pool keeps up to <c>MaxClients</c> arrays of each size it has used, up to 64 MiB; a
    /// larger body is rented new.) The <see cref="HttpResponse"/> then owns that memory until it is
    /// disposed: read the body through <see cref="HttpResponse.BodyMemory"/> (no copy; invalid after
    /// <see cref="HttpResponse.Dispose"/>), and dispose the response when done with it (a response
    /// never disposed only leaves its memory to the garbage collector). A failed fetch returns what it
    /// rented itself. <see cref="HttpResponse.Body"/> still works, as a copy made on first read. With
    /// <c>raiseError</c>, the response of a non-2xx status comes as the <see cref="HttpClientError.Response"/>
    /// of the error thrown: dispose that one.
    /// Ignored when the body goes to a <see cref="StreamingCallback"/>, an
    /// <see cref="AsyncStreamingCallback"/> or a <see cref="BodyWriter"/>.
    /// </summary>
    public bool? PooledBody
    {
        get => _box?.Fields.PooledBody;
        set => BoxFor(value is not null)?.Fields.PooledBody = value;
    }

    /// <summary>
    /// Receives the final response's body as it arrives (decompressed when the response is decoded,
    /// counted against <c>MaxBodySize</c> as a kept body is): its bytes are written to this writer,
    /// and the response's <see cref="HttpResponse.Body"/> stays empty. Only the final response's body
    /// is written (not the bodies of redirects followed on the way). After a failure the writer holds
    /// the body's bytes received before it, in order (for a body over <c>MaxBodySize</c>, at most
    /// that many: the piece that went past the limit is not written). Written
    /// on the loop thread, during the fetch only; the caller owns the writer and what it holds. An
    /// exception the writer throws ends the fetch (a 599 <see cref="HttpClientError"/> with it inside). Set per
    /// request: a client's <see cref="AsyncHttpClientSettings.Defaults"/> cannot supply it. Not together
    /// with <see cref="StreamingCallback"/> or <see cref="AsyncStreamingCallback"/>
    /// (<see cref="ArgumentException"/> at <c>FetchAsync</c>).
    /// </summary>
    public IBufferWriter<byte>? BodyWriter
    {
        get => _box?.Fields.BodyWriter;
        set => BoxFor(value is not null)?.Fields.BodyWriter = value;
    }

    /// <summary>
    /// Receives each header line of the final response as it arrives: the status line, each field
    /// and the closing empty line, every one with its CRLF. The response's headers are still filled.
    /// </summary>
    public Action<string>? HeaderCallback
    {
        get => _box?.Fields.HeaderCallback;
        set => BoxFor(value is not null)?.Fields.HeaderCallback = value;
    }

    /// <summary>Called by a curl-based client with the easy handle before the transfer starts; ignored by the simple client.</summary>
    public Action<ICurlHandle>? PrepareCurlCallback
    {
        get => _box?.Fields.PrepareCurlCallback;
        set => BoxFor(value is not null)?.Fields.PrepareCurlCallback = value;
    }

    /// <summary>An HTTP proxy's host; with <see cref="ProxyPort"/>, requests go through it.</summary>
    public string? ProxyHost
    {
        get => _box?.Fields.ProxyHost;
        set => BoxFor(value is not null)?.Fields.ProxyHost = value;
    }

    /// <summary>The HTTP proxy's port.</summary>
    public int? ProxyPort
    {
        get => _box?.Fields.ProxyPort;
        set => BoxFor(value is not null)?.Fields.ProxyPort = value;
    }

    /// <summary>User name for the proxy.</summary>
    public string? ProxyUsername
    {
        get => _box?.Fields.ProxyUsername;
        set => BoxFor(value is not null)?.Fields.ProxyUsername = value;
    }

    /// <summary>Password for the proxy; empty when not set.</summary>
    public string? ProxyPassword
    {
        get => _box?.Fields.ProxyPassword;
        set => BoxFor(value is not null)?.Fields.ProxyPassword = value;
    }

    /// <summary>How proxy credentials are sent; <see cref="HttpAuthMode.Basic"/> when not set.</summary>
    public HttpAuthMode? ProxyAuthMode
    {
        get => _box?.Fields.ProxyAuthMode;
        set => BoxFor(value is not null)?.Fields.ProxyAuthMode = value;
    }

    /// <summary>Allow any method, and a body with any method or none; false when not set.</summary>
    public bool? AllowNonstandardMethods
    {
        get => _box?.Fields.AllowNonstandardMethods;
        set => BoxFor(value is not null)?.Fields.AllowNonstandardMethods = value;
    }

    /// <summary>Verify the server's certificate and name over https; true when not set.</summary>
    public bool? ValidateCert
    {
        get => _box?.Fields.ValidateCert;
        set => BoxFor(value is not null)?.Fields.ValidateCert = value;
    }

    /// <summary>A PEM file of CA certificates to trust instead of the system's.</summary>
    public string? CaCerts
    {
        get => _box?.Fields.CaCerts;
        set => BoxFor(value is not null)?.Fields.CaCerts = value;
    }

    /// <summary>Use IPv6 addresses when the host has them; true when not set.</summary>
    public bool? AllowIpv6
    {
        get => _box?.Fields.AllowIpv6;
        set => BoxFor(value is not null)?.Fields.AllowIpv6 = value;
    }

    /// <summary>A PEM file with the client certificate's private key.</summary>
    public string? ClientKey
    {
        get => _box?.Fields.ClientKey;
        set => BoxFor(value is not null)?.Fields.ClientKey = value;
    }

    /// <summary>A PEM file with the client certificate (and its key when <see cref="ClientKey"/> is not set).</summary>
    public string? ClientCert
    {
        get => _box?.Fields.ClientCert;
        set => BoxFor(value is not null)?.Fields.ClientCert = value;
    }

    /// <summary>
    /// TLS options to start from (Tornado's <c>ssl_options</c>), for the simple client: a cipher
    /// policy, a validation callback. <see cref="ValidateCert"/>, <see cref="CaCerts"/> and the
    /// client certificate still apply on top.
    /// </summary>
    public SslClientAuthenticationOptions? SslOptions
    {
        get => _box?.Fields.SslOptions;
        set => BoxFor(value is not null)?.Fields.SslOptions = value;
    }

    /// <summary>
    /// The HTTP version to speak: null for the client's default. <see cref="SimpleAsyncHttpClient"/>
    /// speaks 1.1 only; the curl client takes 1.0, 1.1, and 2.0 (HTTP/2 over TLS through ALPN,
    /// 1.1 in clear text) when its libcurl has HTTP/2 (its default is libcurl's own).
    /// </summary>
    public Version? HttpVersion
    {
        get => _box?.Fields.HttpVersion;
        set => BoxFor(value is not null)?.Fields.HttpVersion = value;
    }

    /// <summary>Send <c>Expect: 100-continue</c> and hold the body until the server agrees; false when not set.</summary>
    public bool? Expect100Continue
    {
        get => _box?.Fields.Expect100Continue;
        set => BoxFor(value is not null)?.Fields.Expect100Continue = value;
    }

    /// <summary>The options, with the passwords left out.</summary>
    public override string ToString() => $"{GetType().Name} {{ ConnectTimeout = {ConnectTimeout}, RequestTimeout = {RequestTimeout}, FollowRedirects = {FollowRedirects}, ProxyHost = {ProxyHost} }}";

    /// <summary>Whether <paramref name="other"/> is of the same type with every option equal (an unset option equals only an unset one).</summary>
    public virtual bool Equals(HttpFetchOptions? other) =>
        ReferenceEquals(this, other)
        || (other is not null && EqualityContract == other.EqualityContract && Fields.Equals(other.Fields));

    /// <summary>A hash of the type and the options, consistent with <see cref="Equals(HttpFetchOptions)"/>.</summary>
    public override int GetHashCode() => HashCode.Combine(EqualityContract, Fields);

    /// <summary>Sets every option of this to <paramref name="source"/>'s.</summary>
    private protected void CopyOptionsFrom(HttpFetchOptions source)
    {
        if (source._box is { } box)
        {
            Box.Fields = box.Fields;
        }
        else if (_box is not null)
        {
            _box.Fields = default;
        }
    }

    /// <summary>Fills every option this one leaves unset from <paramref name="defaults"/>, then from Tornado's defaults.</summary>
    private protected void FillFrom(HttpFetchOptions? defaults)
    {
        ref OptionFields f = ref Box.Fields;
        ref readonly OptionFields d = ref defaults?._box is { } given ? ref given.Fields : ref s_unset;
        f.AuthUsername ??= d.AuthUsername;
        f.AuthPassword ??= d.AuthPassword;
        f.AuthMode ??= d.AuthMode ?? HttpAuthMode.Basic;
        f.ConnectTimeout ??= d.ConnectTimeout ?? DefaultTimeout;
        f.RequestTimeout ??= d.RequestTimeout ?? DefaultTimeout;
        f.IfModifiedSince ??= d.IfModifiedSince;
        f.FollowRedirects ??= d.FollowRedirects ?? true;
        f.MaxRedirects ??= d.MaxRedirects ?? DefaultMaxRedirects;
        f.UserAgent ??= d.UserAgent;
        f.DecompressResponse ??= d.DecompressResponse ?? true;
        f.NetworkInterface ??= d.NetworkInterface;
        f.StreamingCallback ??= d.StreamingCallback;
        f.AsyncStreamingCallback ??= d.AsyncStreamingCallback;
        f.PooledBody ??= d.PooledBody ?? false;
        f.HeaderCallback ??= d.HeaderCallback;
        f.PrepareCurlCallback ??= d.PrepareCurlCallback;
        f.ProxyHost ??= d.ProxyHost;
        f.ProxyPort ??= d.ProxyPort;
        f.ProxyUsername ??= d.ProxyUsername;
        f.ProxyPassword ??= d.ProxyPassword ?? string.Empty;
        f.ProxyAuthMode ??= d.ProxyAuthMode ?? HttpAuthMode.Basic;
        f.AllowNonstandardMethods ??= d.AllowNonstandardMethods ?? false;
        f.ValidateCert ??= d.ValidateCert ?? true;
        f.CaCerts ??= d.CaCerts;
        f.AllowIpv6 ??= d.AllowIpv6 ?? true;
        f.ClientKey ??= d.ClientKey;
        f.ClientCert ??= d.ClientCert;
        f.SslOptions ??= d.SslOptions;
        f.Expect100Continue ??= d.Expect100Continue ?? false;
        f.HttpVersion ??= d.HttpVersion;
    }

    private OptionBox Box => _box ??= new OptionBox();

    /// <summary>The options object to set a value in: made for a value, not for a null that leaves an option unset.</summary>
    private OptionBox? BoxFor(bool hasValue) => _box ?? (hasValue ? _box = new OptionBox() : null);

    /// <summary>The options, all unset when none was ever set.</summary>
    private ref readonly OptionFields Fields => ref _box is { } box ? ref box.Fields : ref s_unset;

    /// <summary>Every option, compared field by field (a record struct: no reflection, no boxing).</summary>
    private record struct OptionFields
    {
        public string? AuthUsername;
        public string? AuthPassword;
        public HttpAuthMode? AuthMode;
        public TimeSpan? ConnectTimeout;
        public TimeSpan? RequestTimeout;
        public DateTimeOffset? IfModifiedSince;
        public bool? FollowRedirects;
        public int? MaxRedirects;
        public string? UserAgent;
        public bool? DecompressResponse;
        public string? NetworkInterface;
        public Action<ReadOnlyMemory<byte>>? StreamingCallback;
        public Func<ReadOnlyMemory<byte>, ValueTask>? AsyncStreamingCallback;
        public bool? PooledBody;
        public IBufferWriter<byte>? BodyWriter;
        public Action<string>? HeaderCallback;
        public Action<ICurlHandle>? PrepareCurlCallback;
        public string? ProxyHost;
        public int? ProxyPort;
        public string? ProxyUsername;
        public string? ProxyPassword;
        public HttpAuthMode? ProxyAuthMode;
        public bool? AllowNonstandardMethods;
        public bool? ValidateCert;
        public string? CaCerts;
        public bool? AllowIpv6;
        public string? ClientKey;
        public string? ClientCert;
        public SslClientAuthenticationOptions? SslOptions;
        public Version? HttpVersion;
        public bool? Expect100Continue;
    }

    /// <summary>Holds the options of one instance once any is set.</summary>
    private sealed class OptionBox
    {
        public OptionFields Fields;
    }
}
