namespace Loop.Http;

/// <summary>
/// The response body (counted after content decoding, redirect bodies included) went past the
/// request's <c>MaxBodySize</c>, or its Content-Length said it would (code 599). The client
/// stopped reading and closed the connection; nothing past <see cref="Limit"/> was kept.
/// </summary>
public sealed class HttpBodyTooLargeError : HttpClientError
{
    /// <summary>Creates the error for a body over <paramref name="limit"/> bytes.</summary>
    /// <param name="limit">The limit that was passed, in bytes.</param>
    /// <param name="declaredLength">The Content-Length the server declared, when it was the declaration that went over; null when the bytes themselves did.</param>
    public HttpBodyTooLargeError(long limit, long? declaredLength = null)
        : base(declaredLength is { } declared
            ? $"Content-Length too long: {declared} bytes, MaxBodySize is {limit}"
            : $"Body larger than the limit of {limit} bytes", null)
    {
        Limit = limit;
        DeclaredLength = declaredLength;
    }

    /// <summary>The limit that was passed, in bytes (the request's <c>MaxBodySize</c>).</summary>
    public long Limit { get; }

    /// <summary>The Content-Length the server declared, when the declaration alone went over the limit; null when the received bytes did.</summary>
    public long? DeclaredLength { get; }
}
