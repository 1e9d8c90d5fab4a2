namespace Loop.Http;

/// <summary>
/// A fetch that did not succeed (Tornado's <c>HTTPError</c>): a response with a non-2xx code
/// (<see cref="Response"/> holds it), or code 599 when no usable response arrived. A 599 is
/// always one of the subtypes, the same for the same server behaviour in both clients:
/// <see cref="HttpTimeoutError"/>, <see cref="HttpStreamClosedError"/>,
/// <see cref="HttpProtocolError"/>, <see cref="HttpBodyTooLargeError"/>,
/// <see cref="HttpContentDecodingError"/>, <see cref="HttpConnectError"/> and
/// <see cref="HttpTlsError"/>; the cause, when there is one, is the
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

    /// <summary>For the 599 subtypes, whose message is said as it is (no <c>HTTP 599:</c> in front).</summary>
    private protected HttpClientError(string message, Exception? innerException)
        : base(message, innerException)
    {
        Code = 599;
    }

    /// <summary>The status code, or 599 when no response arrived.</summary>
    public int Code { get; }

    /// <summary>The response, when there was one (a 599 made by the client has one too, with <c>raiseError: false</c>).</summary>
    public HttpResponse? Response { get; internal set; }

    /// <summary>
    /// The libcurl <c>CURLcode</c> the transfer ended with, when the curl client raised this
    /// error because of one (Tornado's <c>CurlError.errno</c>); null from the simple client and
    /// for errors the curl client found itself (a malformed header, a body over the limit).
    /// </summary>
    public int? CurlCode { get; internal set; }
}
