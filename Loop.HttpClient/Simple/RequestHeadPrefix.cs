using System.Text;

namespace Loop.Http.Simple;

/// <summary>
/// The start of a request head: the request line and the fields the client adds of its own
/// (Host, User-Agent, Accept-Encoding), encoded once and written as they are while requests keep
/// the same method, URL and choices (most programs fetch the same few URLs again and again).
/// One per client, shared by its connections (a new connection does not encode it again); used
/// on the loop thread only.
/// </summary>
internal sealed class RequestHeadPrefix
{
    private byte[] _bytes = [];
    private int _length;
    private bool _made;

    // What the bytes were made from: the same strings and URL object mean the same bytes.
    private string? _method;
    private RequestUrl? _url;
    private string? _agent;
    private bool _viaProxy;
    private bool _hostGiven;
    private bool _acceptEncoding;

    /// <summary>
    /// The encoded prefix for a request: <paramref name="viaProxy"/> puts the URL in absolute
    /// form, <paramref name="hostGiven"/> leaves Host to the caller's fields, a null
    /// <paramref name="agent"/> sends no User-Agent. Valid until the next call.
    /// </summary>
    public ReadOnlySpan<byte> For(string method, RequestUrl url, bool viaProxy, bool hostGiven, string? agent, bool acceptEncoding)
    {
        if (!_made || !ReferenceEquals(_method, method) || !ReferenceEquals(_url, url) || !ReferenceEquals(_agent, agent)
            || _viaProxy != viaProxy || _hostGiven != hostGiven || _acceptEncoding != acceptEncoding)
        {
            Make(method, url, viaProxy, hostGiven, agent, acceptEncoding);
        }

        return _bytes.AsSpan(0, _length);
    }

    private void Make(string method, RequestUrl url, bool viaProxy, bool hostGiven, string? agent, bool acceptEncoding)
    {
        _made = false;
        _length = 0;
        Append(method);
        Append(" ");
        if (viaProxy)
        {
            // Absolute form to a proxy (RFC 9112 §3.2.2).
            Append(url.SchemeHostPort);
        }

        Append(url.Target);
        Append(" HTTP/1.1\r\n");
        if (!hostGiven)
        {
            Append("Host: ");
            Append(url.HostHeader);
            Append("\r\n");
        }

        if (agent is not null)
        {
            Append("User-Agent: ");
            Append(agent);
            Append("\r\n");
        }

        if (acceptEncoding)
        {
            Append("Accept-Encoding: gzip, deflate, br\r\n");
        }

        _method = method;
        _url = url;
        _agent = agent;
        _viaProxy = viaProxy;
        _hostGiven = hostGiven;
        _acceptEncoding = acceptEncoding;
        _made = true;
    }

    /// <summary>Appends <paramref name="text"/> as sent on the wire (ISO-8859-1), growing the buffer when needed.</summary>
    private void Append(string text)
    {
        int needed = _length + text.Length;
        if (_bytes.Length < needed)
        {
            byte[] larger = new byte[Math.Max(needed, Math.Max(128, _bytes.Length * 2))];
            _bytes.AsSpan(0, _length).CopyTo(larger);
            _bytes = larger;
        }

        _length += Encoding.Latin1.GetBytes(text, _bytes.AsSpan(_length));
    }
}
