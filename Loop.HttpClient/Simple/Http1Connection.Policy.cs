
namespace Loop.Http.Simple;

/// <summary>What the response means for what comes next: a redirect to follow, and whether the connection can be kept.</summary>
internal sealed partial class Http1Connection
{
    private RequestUrl? _redirectUrl;

    private HttpRequest? RedirectFor(int code, HttpHeaders headers)
    {
        if (_request.FollowRedirects != true || _request.MaxRedirects <= 0 || code is not (301 or 302 or 303 or 307 or 308)
            || !headers.TryGetValue("Location", out string? location))
        {
            return null;
        }

        if (!Uri.TryCreate(_url.Uri, location, out Uri? target) || target.Scheme is not ("http" or "https"))
        {
            // Only http and https targets are followed; the 3xx itself is returned.
            return null;
        }

        HttpRequest next = _request with { Url = target.AbsoluteUri, MaxRedirects = _request.MaxRedirects - 1 };
        next.Headers = _request.HeadersOrNull?.Copy() ?? new HttpHeaders();
        next.Headers.Remove("Host");
        if ((code is 301 or 302 && _request.Method == "POST") || (code == 303 && _request.Method != "HEAD"))
        {
            // RFC 9110 §15.4: the redirected request is a GET without the body.
            next.Method = "GET";
            next.Body = null;
            next.BodyProducer = null;
            foreach (string name in (ReadOnlySpan<string>)["Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"])
            {
                next.Headers.Remove(name);
            }
        }

        _redirectUrl = RequestUrl.For(target);
        if (!_url.SameOrigin(_redirectUrl))
        {
            // Credentials are for the origin they were given for.
            next.Headers.Remove("Authorization");
            next.Headers.Remove("Cookie");
            next.Headers.Remove("Proxy-Authorization");
            next.AuthUsername = null;
            next.AuthPassword = null;
            next.ProxyUsername = null;
            next.ProxyPassword = string.Empty;
        }

        return next;
    }

    private bool WantsKeepAlive(ResponseHead response)
    {
        string? connection = response.Headers.Get("Connection");
        if (connection is not null && HasToken(connection, "close"))
        {
            return false;
        }

        if (_request.HeadersOrNull?.Get("Connection") is { } asked && HasToken(asked, "close"))
        {
            return false;
        }

        return response.Version == "HTTP/1.1" || (connection is not null && HasToken(connection, "keep-alive"));
    }

    private static bool HasToken(string list, string token)
    {
        // The usual value is the one token and nothing else ("keep-alive"): no list to split.
        if (list.Length == token.Length)
        {
            return list.Equals(token, StringComparison.OrdinalIgnoreCase);
        }

        foreach (Range part in list.AsSpan().Split(','))
        {
            if (list.AsSpan()[part].Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
