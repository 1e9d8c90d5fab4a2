using System.Text;

namespace Loop.Http;

/// <summary>
/// An HTTP request to fetch (Tornado's <c>HTTPRequest</c>): the URL, method, headers and body,
/// and the <see cref="HttpFetchOptions">options</see> that a client's defaults can fill. The
/// client copies it before use, so a request (and its headers) can be fetched again, and
/// <see cref="HttpResponse.Request"/> is this same object.
/// </summary>
public sealed record HttpRequest : HttpFetchOptions
{
    /// <summary>Methods allowed without <see cref="HttpFetchOptions.AllowNonstandardMethods"/>.</summary>
    public static readonly IReadOnlySet<string> StandardMethods = new HashSet<string>(StringComparer.Ordinal) { "GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS" };

    // Made on first use: a request without headers carries none.
    private HttpHeaders? _headers;

    /// <summary>Creates a request for <paramref name="url"/> (absolute http or https).</summary>
    /// <param name="url">The URL to fetch; user information in it (<c>user:pass@</c>) is sent as basic authentication.</param>
    /// <param name="method">The method, upper case as sent.</param>
    /// <param name="headers">Headers to send; null for none.</param>
    /// <param name="body">The body; null for none.</param>
    public HttpRequest(string url, string method = "GET", HttpHeaders? headers = null, byte[]? body = null)
    {
        Url = url;
        Method = method;
        _headers = headers;
        Body = body;
    }

    /// <summary>Creates a request with a text body, sent as UTF-8 (Tornado's rule for a <c>str</c> body).</summary>
    public HttpRequest(string url, string method, HttpHeaders? headers, string body)
        : this(url, method, headers, Encoding.UTF8.GetBytes(body ?? throw new ArgumentNullException(nameof(body))))
    {
    }

    /// <summary>The absolute URL to fetch.</summary>
    public string Url { get; set; }

    /// <summary>The method, for example <c>GET</c> or <c>POST</c>.</summary>
    public string Method { get; set; }

    /// <summary>The headers to send. Setting null leaves an empty set.</summary>
    /// <remarks>
    /// The client owns the framing of the request, so that no header can make the server read a
    /// second request out of this one. <c>FetchAsync</c> throws <see cref="ArgumentException"/> at
    /// the call, before anything is sent, when a header breaks one of these rules:
    /// <list type="bullet">
    /// <item><c>Content-Length</c>: at most one, a decimal number. With <see cref="Body"/> it must be
    /// the body's length; with <see cref="BodyProducer"/> it is the length the producer must write
    /// (checked while sending; the body is then not chunked); without a body it must be 0. Leave it
    /// out: the client sends the right one.</item>
    /// <item><c>Transfer-Encoding</c>: only <c>chunked</c>, only with <see cref="BodyProducer"/> and no
    /// <c>Content-Length</c> (which is what the client sends anyway; it goes out once).</item>
    /// <item><c>Host</c>: at most one, a host name, IPv4 address or bracketed IPv6 literal with an
    /// optional port. It may differ from the URL's (a virtual host, as Tornado allows); a redirect
    /// drops it.</item>
    /// <item><c>Connection</c>: a list of tokens, naming none of <c>Content-Length</c>,
    /// <c>Transfer-Encoding</c> and <c>Host</c> (an intermediary drops the fields it lists) nor
    /// <c>upgrade</c>; an <c>Upgrade</c> header is refused too: neither client can hand the connection
    /// over to another protocol after a 101.</item>
    /// </list>
    /// CR, LF and NUL are refused in every name and value, and names must be tokens.
    /// </remarks>
    public HttpHeaders Headers
    {
        get => _headers ??= new HttpHeaders();
        set => _headers = value;
    }

    /// <summary>The body, or null for none. POST, PUT and PATCH need one; the other standard methods must have none (unless <see cref="HttpFetchOptions.AllowNonstandardMethods"/>).</summary>
    public byte[]? Body { get; set; }

    /// <summary>
    /// Produces the body while the request is sent, instead of <see cref="Body"/>: it is called
    /// with a write function and its task ends the body. Each write completes when the data has
    /// been handed to the connection (flow control). Without a <c>Content-Length</c> header the
    /// body is sent chunked. Both clients take it (the curl client reads it through its read
    /// callback, pausing the upload while a write waits).
    /// </summary>
    public Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task>? BodyProducer { get; set; }

    /// <summary>Sets <see cref="Body"/> to <paramref name="text"/> encoded as UTF-8.</summary>
    public void SetBody(string text) => Body = Encoding.UTF8.GetBytes(text ?? throw new ArgumentNullException(nameof(text)));

    /// <summary>The request's method and URL (no credentials, no body).</summary>
    public override string ToString() => $"HttpRequest({Method} {Url})";

    /// <summary>The headers if any were set, without making an empty collection.</summary>
    internal HttpHeaders? HeadersOrNull => _headers is { Count: > 0 } headers ? headers : null;

    /// <summary>
    /// Makes <paramref name="target"/> this request with the unset options filled from
    /// <paramref name="defaults"/> and then Tornado's. The headers are copied into the target's
    /// own collection (kept from an earlier use), so the caller may change or refetch this request
    /// while the fetch runs, and a pooled target allocates nothing.
    /// </summary>
    internal void CopyWithDefaults(HttpRequest target, HttpFetchOptions? defaults)
    {
        target.CopyOptionsFrom(this);
        target.Url = Url;
        target.Method = Method;
        target.Body = Body;
        target.BodyProducer = BodyProducer;
        if (_headers is { Count: > 0 } headers)
        {
            (target._headers ??= new HttpHeaders()).ReplaceWith(headers);
        }
        else
        {
            target._headers?.Clear();
        }

        target.FillFrom(defaults);
    }
}
