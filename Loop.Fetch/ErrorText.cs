using Loop.Http;

namespace Loop.Fetch;

/// <summary>The one line on stderr that says what went wrong with a URL: no type names, no parameter names, no stack.</summary>
internal static class ErrorText
{
    /// <summary><paramref name="message"/> on one line: line breaks and tabs become single spaces.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>What <paramref name="error"/> means for the fetch of <paramref name="url"/>.</summary>
    public static string Describe(Exception error, string url, FetchSettings settings)
    {
        string message = error switch
        {
            HttpTimeoutError { Phase: HttpTimeoutPhase.Connect } => $"timeout while connecting to {Target(url, settings)}",
            HttpTimeoutError { Phase: HttpTimeoutPhase.Queue } => $"timeout while waiting to connect to {Target(url, settings)}",
            HttpTimeoutError => $"timeout while fetching {url}",

            // The ArgumentException of an invalid request names the parameter; the user gave none.
            ArgumentException { ParamName: { } name } argument => argument.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal),

            _ => error.Message,
        };
        return OneLine(message);
    }

    /// <summary>The host and port connected to: the proxy's when there is one.</summary>
    private static string Target(string url, FetchSettings settings)
    {
        if (settings.ProxyHost is { } proxy)
        {
            return $"{proxy}:{settings.ProxyPort ?? SimpleAsyncHttpClient.DefaultProxyPort}";
        }

        var uri = new Uri(url);
        return uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.IdnHost}]:{uri.Port}" : $"{uri.IdnHost}:{uri.Port}";
    }
}
