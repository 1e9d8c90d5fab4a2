using System.Collections.Concurrent;

namespace Loop.Http;

/// <summary>
/// A request URL parsed once into what the clients need (host, port, request target, the Host
/// header), cached by the URL string: fetching the same URL again parses nothing and allocates
/// nothing. Immutable, so shared between threads and clients.
/// </summary>
internal sealed class RequestUrl
{
    private const int CacheLimit = 256;
    private static readonly ConcurrentDictionary<string, RequestUrl> s_cache = new(StringComparer.Ordinal);

    // The string last parsed (or found) and its result, one reference so that it is read whole from any thread.
    private static LastParsed? s_last;
    private static int s_cached;

    private RequestUrl(Uri uri)
    {
        Uri = uri;
        IsHttps = uri.Scheme == Uri.UriSchemeHttps;
        Host = uri.IdnHost;
        Port = uri.Port;
        string target = uri.GetComponents(UriComponents.PathAndQuery, UriFormat.UriEscaped);
        Target = target.Length == 0 ? "/" : target;
        string host = uri.HostNameType == UriHostNameType.IPv6 && !Host.StartsWith('[') ? $"[{Host}]" : Host;
        HostHeader = uri.IsDefaultPort ? host : $"{host}:{Port}";
        SchemeHostPort = $"{uri.Scheme}://{host}:{Port}";
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':');
            User = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            Password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
    }

    public Uri Uri { get; }

    public bool IsHttps { get; }

    /// <summary>The host to connect to (IDN in ASCII form, an IPv6 literal without brackets).</summary>
    public string Host { get; }

    public int Port { get; }

    /// <summary>The origin-form request target: the escaped path and query, <c>/</c> at least.</summary>
    public string Target { get; }

    /// <summary>The value of the Host header: the port only when it is not the scheme's default.</summary>
    public string HostHeader { get; }

    /// <summary><c>scheme://host:port</c>, with an IPv6 literal bracketed.</summary>
    public string SchemeHostPort { get; }

    /// <summary>The user name given in the URL (unescaped), or null.</summary>
    public string? User { get; }

    /// <summary>The password given in the URL (unescaped), or null.</summary>
    public string? Password { get; }

    /// <summary>The parsed form of an absolute http or https URL, or null if it is not one.</summary>
    public static RequestUrl? Parse(string url)
    {
        // Most programs fetch the same few URLs again and again, usually the same string object.
        if (s_last is { } last && ReferenceEquals(last.Text, url))
        {
            return last.Url;
        }

        if (s_cache.TryGetValue(url, out RequestUrl? cached))
        {
            s_last = new LastParsed(url, cached);
            return cached;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
        {
            return null;
        }

        var parsed = new RequestUrl(uri);
        if (Interlocked.Increment(ref s_cached) > CacheLimit)
        {
            // Many distinct URLs: start over rather than grow without bound.
            s_cache.Clear();
            Interlocked.Exchange(ref s_cached, 1);
        }

        s_cache[url] = parsed;
        s_last = new LastParsed(url, parsed);
        return parsed;
    }

    /// <summary>The parsed form of an absolute http or https URI (a redirect target), not cached.</summary>
    public static RequestUrl For(Uri uri) => new(uri);

    public bool SameOrigin(RequestUrl other) =>
        Uri.Scheme == other.Uri.Scheme && Port == other.Port && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase);

    private sealed record LastParsed(string Text, RequestUrl Url);
}
