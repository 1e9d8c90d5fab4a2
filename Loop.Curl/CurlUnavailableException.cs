namespace Loop.Curl;

/// <summary>
/// libcurl cannot be used here: it was not found (the message names the files looked for and
/// what to install), it is older than 7.21.1, or the platform's calling convention for its
/// variadic functions is not supported. Raised when a <see cref="CurlAsyncHttpClient"/> is made.
/// </summary>
public sealed class CurlUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CurlUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
