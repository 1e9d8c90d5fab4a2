namespace Loop.Http;

/// <summary>
/// A fetch that did not succeed (Tornado's <c>HTTPError</c>): a response with a non-2xx code
/// (<see cref="Response"/> holds it), or code 599 when no response arrived, with the cause as
/// <see cref="Exception.InnerException"/>. Its message is <c>HTTP 404: Not Found</c> for a
/// response, or what happened for a 599.
/// </summary>
public class HttpClientError : Exception
{
    /// <summary>Creates the error for <paramref name="code"/>: its message is <c>HTTP code: message</c>, the message defaulting to the standard reason phrase.</summary>
    public HttpClientError(int code, string? message = null, HttpResponse? response = null, Exception? innerException = null)
        : base($"HTTP {code}: {message ?? HttpStatus.ReasonFor(code)}", innerException)
    {
        Code = code;
        Response = response;
    }

    /// <summary>For subclasses whose message is said as it is (no <c>HTTP 599:</c> in front).</summary>
    private protected HttpClientError(string message, Exception? innerException)
        : base(message, innerException)
    {
        Code = 599;
    }

    /// <summary>The status code, or 599 when no response arrived.</summary>
    public int Code { get; }

    /// <summary>The response, when there was one (a 599 made by the client has one too, with <c>raiseError: false</c>).</summary>
    public HttpResponse? Response { get; internal set; }
}

/// <summary>A fetch ran out of time (code 599); the message names the phase: "Timeout while connecting", "Timeout in request queue", "Timeout during request".</summary>
public sealed class HttpTimeoutError : HttpClientError
{
    /// <summary>Creates the error with a message naming the phase.</summary>
    public HttpTimeoutError(string message)
        : base(message, null)
    {
    }
}

/// <summary>
/// The connection closed before the response was complete (code 599), or was closed by the
/// client because the response broke the protocol (<see cref="HttpProtocolError"/>). The
/// inner exception is the cause when there is one.
/// </summary>
public class HttpStreamClosedError : HttpClientError
{
    /// <summary>Creates the error; the message defaults to "Stream closed".</summary>
    public HttpStreamClosedError(string? message = null, Exception? innerException = null)
        : base(message ?? "Stream closed", innerException)
    {
    }
}

/// <summary>
/// The response broke HTTP/1.1 (a malformed status line or header, conflicting lengths, a bad
/// chunk, a body past <c>MaxBodySize</c>): the client closed the connection at once rather than
/// wait for the timeout. Code 599.
/// </summary>
public sealed class HttpProtocolError : HttpStreamClosedError
{
    /// <summary>Creates the error with a message saying what was wrong.</summary>
    public HttpProtocolError(string message)
        : base(message)
    {
    }
}
