namespace Loop.Http;

/// <summary>
/// No connection could be made (code 599): the name did not resolve, or every address refused
/// or was unreachable. The inner exception is the cause: a
/// <see cref="System.Net.Sockets.SocketException"/> (its <c>SocketErrorCode</c> says which:
/// <c>ConnectionRefused</c>, <c>HostNotFound</c>, …) or a <see cref="ResolveException"/>.
/// A timeout while connecting is an <see cref="HttpTimeoutError"/> instead, and a failed TLS
/// handshake an <see cref="HttpTlsError"/>.
/// </summary>
public sealed class HttpConnectError : HttpClientError
{
    /// <summary>Creates the error for a failed connection to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public HttpConnectError(string host, int port, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Host = host;
        Port = port;
    }

    /// <summary>The host that was connected to (the proxy's, when the request went through one).</summary>
    public string Host { get; }

    /// <summary>The port that was connected to.</summary>
    public int Port { get; }
}
