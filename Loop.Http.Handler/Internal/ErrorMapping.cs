using System.Net.Sockets;

namespace Loop.Http.Internal;

/// <summary>Turns a fetch's failure into what <see cref="HttpClient"/> callers expect of a handler.</summary>
internal static class ErrorMapping
{
    // libcurl's CURLE_COULDNT_RESOLVE_PROXY and CURLE_COULDNT_RESOLVE_HOST.
    private const int CurlCouldNotResolveProxy = 5;
    private const int CurlCouldNotResolveHost = 6;

    /// <summary>
    /// The exception for a failure: <see cref="TaskCanceledException"/> for a cancellation (with the
    /// caller's token when it was the caller's) and for one of the handler's own timeouts (with a
    /// <see cref="TimeoutException"/> inside, as <see cref="SocketsHttpHandler"/>'s connect timeout);
    /// otherwise <see cref="HttpRequestException"/> before the head, <see cref="HttpIOException"/>
    /// (from the content stream) after it, with the <see cref="HttpRequestError"/> that fits and the
    /// cause inside.
    /// </summary>
    public static Exception Map(Exception failure, CancellationToken callerToken, bool afterHead)
    {
        switch (failure)
        {
            case OperationCanceledException canceled:
                return callerToken.IsCancellationRequested
                    ? new TaskCanceledException("The request was canceled.", canceled, callerToken)
                    : new TaskCanceledException("The request was aborted: its response content was disposed or its read canceled.", canceled);
            case HttpTimeoutError timeout:
                return new TaskCanceledException(
                    $"The request was canceled after the handler's {(timeout.Phase == HttpTimeoutPhase.Request ? "RequestTimeout" : "ConnectTimeout")} elapsed: {timeout.Message}.",
                    new TimeoutException(timeout.Message, timeout));
            case HttpClientError error:
                HttpRequestError kind = Classify(error);
                string message = error.InnerException is { } cause && error.GetType() == typeof(HttpClientError) ? $"{error.Message} ({cause.GetType().Name}: {cause.Message})" : error.Message;
                return afterHead ? new HttpIOException(kind, message, error) : new HttpRequestException(kind, message, error);
            case ObjectDisposedException disposed:
                return afterHead
                    ? new HttpIOException(HttpRequestError.Unknown, "The Loop client was closed during the request.", disposed)
                    : new HttpRequestException(HttpRequestError.Unknown, "The Loop client was closed during the request.", disposed);
            default:
                return afterHead ? new HttpIOException(HttpRequestError.Unknown, failure.Message, failure) : new HttpRequestException(HttpRequestError.Unknown, failure.Message, failure);
        }
    }

    /// <summary>The <see cref="HttpRequestError"/> of one of the clients' errors.</summary>
    public static HttpRequestError Classify(HttpClientError error) => error switch
    {
        HttpConnectError connect => IsNameResolution(connect) ? HttpRequestError.NameResolutionError : HttpRequestError.ConnectionError,
        HttpTlsError => HttpRequestError.SecureConnectionError,
        // The clients say a head went past MaxHeaderSize only in the message (no type or field of its own).
        HttpProtocolError protocol when protocol.Message.Contains("MaxHeaderSize", StringComparison.Ordinal) => HttpRequestError.ConfigurationLimitExceeded,
        HttpProtocolError or HttpContentDecodingError => HttpRequestError.InvalidResponse,
        HttpStreamClosedError => HttpRequestError.ResponseEnded,
        HttpBodyTooLargeError => HttpRequestError.ConfigurationLimitExceeded,
        _ => HttpRequestError.Unknown,
    };

    private static bool IsNameResolution(HttpConnectError error) =>
        error.CurlCode is CurlCouldNotResolveHost or CurlCouldNotResolveProxy
        || error.InnerException is ResolveException
        || error.InnerException is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData or SocketError.NoRecovery };
}
