namespace Loop.Http;

/// <summary>
/// The TLS handshake failed (code 599): the certificate was not trusted, named another host,
/// had expired, or the handshake itself broke. <see cref="Reason"/> says which; the inner
/// exception is a <see cref="TlsHandshakeException"/> with the details.
/// </summary>
public sealed class HttpTlsError : HttpClientError
{
    /// <summary>Creates the error.</summary>
    public HttpTlsError(TlsFailureReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Why the handshake failed.</summary>
    public TlsFailureReason Reason { get; }
}
