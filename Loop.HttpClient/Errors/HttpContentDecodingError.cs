namespace Loop.Http;

/// <summary>
/// The body's content coding (<c>Content-Encoding</c>, or a transfer coding before
/// <c>chunked</c>) could not be undone (code 599): the compressed data is corrupt, fails its
/// checksum, stops before its end, has data after its end, or uses a coding the client does not
/// know. Nothing of the body is returned: a truncated body is never passed off as a whole one.
/// </summary>
public sealed class HttpContentDecodingError : HttpClientError
{
    /// <summary>Creates the error.</summary>
    /// <param name="encoding">The coding that failed, as the server named it (<c>gzip</c>, <c>br</c>, …).</param>
    /// <param name="message">What was wrong with the data.</param>
    /// <param name="innerException">The decoder's own error, when there is one.</param>
    public HttpContentDecodingError(string encoding, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Encoding = encoding;
    }

    /// <summary>The coding that failed, as the server named it.</summary>
    public string Encoding { get; }
}
