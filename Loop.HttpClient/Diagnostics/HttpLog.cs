using Microsoft.Extensions.Logging;

namespace Loop.Http;

/// <summary>
/// The clients' per-request log events, all at Debug (category <c>Loop.Http.AsyncHttpClient</c>).
/// URLs are logged without user, password or query (<see cref="HttpTelemetry.RedactedUrl"/>); no
/// header value or body is ever logged at Information or above (libcurl's verbose output, which
/// shows header lines, goes to Trace).
/// </summary>
internal static partial class HttpLog
{
    [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "{Method} {Url} started")]
    public static partial void Started(ILogger logger, string method, string url);

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Connected to {Host}:{Port} ({PeerAddress}) in {Milliseconds:F1} ms")]
    public static partial void Connected(ILogger logger, string host, int port, string? peerAddress, double milliseconds);

    [LoggerMessage(EventId = 203, Level = LogLevel.Debug, Message = "{Method} {Url}: redirect {StatusCode} to {Location}")]
    public static partial void Redirected(ILogger logger, string method, string url, int statusCode, string location);

    [LoggerMessage(EventId = 204, Level = LogLevel.Debug, Message = "{Method} {Url} ended: {StatusCode} {Reason} in {Milliseconds:F1} ms")]
    public static partial void Ended(ILogger logger, string method, string url, int statusCode, string reason, double milliseconds);

    [LoggerMessage(EventId = 205, Level = LogLevel.Debug, Message = "{Method} {Url} failed after {Milliseconds:F1} ms: {ErrorType}: {Error}")]
    public static partial void Failed(ILogger logger, string method, string url, double milliseconds, string errorType, string error);
}
