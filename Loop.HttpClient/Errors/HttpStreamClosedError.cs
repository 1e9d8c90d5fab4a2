namespace Loop.Http;

/// <summary>
/// The connection closed (or was reset) before the response was complete (code 599). The
/// inner exception is the cause when there is one (a <see cref="System.Net.Sockets.SocketException"/>
/// for a reset); <see cref="BytesReceived"/> says how much of the response had arrived.
/// <see cref="HttpProtocolError"/> derives from it: a response that broke the protocol also
/// ends with the client closing the connection.
/// </summary>
public class HttpStreamClosedError : HttpClientError
{
    /// <summary>Creates the error; the message defaults to "Stream closed".</summary>
    /// <param name="message">What happened, in terms of what the server did.</param>
    /// <param name="innerException">The cause, when there is one.</param>
    /// <param name="bytesReceived">How many bytes of the response (head and body, as received) had arrived; 0 when none.</param>
    public HttpStreamClosedError(string? message = null, Exception? innerException = null, long bytesReceived = 0)
        : base(message ?? "Stream closed", innerException)
    {
        BytesReceived = bytesReceived;
    }

    /// <summary>
    /// How many bytes of the response had arrived when the connection closed: the status line
    /// and headers as received, and the body before any content decoding. 0 when nothing did.
    /// </summary>
    public long BytesReceived { get; }
}
