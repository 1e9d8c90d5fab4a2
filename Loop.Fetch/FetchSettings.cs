using Loop.Http;

namespace Loop.Fetch;

/// <summary>Which client fetches (<c>--client</c>).</summary>
internal enum ClientKind
{
    /// <summary><see cref="SimpleAsyncHttpClient"/>: HTTP/1.1 over the loop's own streams.</summary>
    Simple,

    /// <summary><see cref="Loop.Curl.CurlAsyncHttpClient"/>: libcurl's multi-socket interface on the loop.</summary>
    Curl,
}

/// <summary>What the command line asked for, checked: every value here is usable as it is.</summary>
internal sealed class FetchSettings
{
    public required IReadOnlyList<string> Urls { get; init; }

    public bool PrintHeaders { get; init; }

    public bool PrintBody { get; init; } = true;

    public bool FollowRedirects { get; init; } = true;

    public bool ValidateCert { get; init; } = true;

    public string? ProxyHost { get; init; }

    public int? ProxyPort { get; init; }

    public ClientKind Client { get; init; }

    public string? Method { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public byte[]? Data { get; init; }

    /// <summary>The whole fetch; null: no limit (curl's habit; Tornado's 20 s would cut a large download short).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Resolving, connecting and TLS; null: Tornado's 20 s.</summary>
    public TimeSpan? ConnectTimeout { get; init; }

    public int? MaxRedirects { get; init; }

    public string? User { get; init; }

    public string? Password { get; init; }

    public string? CaCerts { get; init; }

    public bool Http2 { get; init; }

    public string? OutputPath { get; init; }

    public bool Json { get; init; }

    public bool Fail { get; init; }

    /// <summary>Whether anything of a response (head or body) goes to the output (stdout or <c>-o</c>).</summary>
    public bool WritesOutput => (PrintBody || PrintHeaders) && (!Json || OutputPath is not null);

    /// <summary>The request for <paramref name="url"/>, without the callbacks (the <see cref="Transfer"/> adds them).</summary>
    public HttpRequest CreateRequest(string url)
    {
        var headers = new HttpHeaders();
        foreach (KeyValuePair<string, string> header in Headers)
        {
            headers.Add(header.Key, header.Value);
        }

        string method = Method ?? (Data is null ? "GET" : "POST");

        // POST, PUT and PATCH need a body: without -d they send an empty one, as curl -X POST does.
        byte[]? body = Data ?? (method is "POST" or "PUT" or "PATCH" ? [] : null);
        return new HttpRequest(url, method, headers, body)
        {
            FollowRedirects = FollowRedirects,
            MaxRedirects = MaxRedirects,
            ValidateCert = ValidateCert,
            CaCerts = CaCerts,
            ProxyHost = ProxyHost,
            ProxyPort = ProxyPort,
            AuthUsername = User,
            AuthPassword = User is null ? null : Password ?? string.Empty,
            RequestTimeout = Timeout ?? TimeSpan.Zero,
            ConnectTimeout = ConnectTimeout ?? HttpFetchOptions.DefaultTimeout,
            HttpVersion = Http2 ? System.Net.HttpVersion.Version20 : null,

            // The command line says what to send: any method, a body with any method.
            AllowNonstandardMethods = true,
        };
    }
}
