namespace Loop.Http;

/// <summary>Where a fetch was when its time ran out (<see cref="HttpTimeoutError.Phase"/>).</summary>
public enum HttpTimeoutPhase
{
    /// <summary>Waiting for one of the client's <c>MaxClients</c> slots: "Timeout in request queue".</summary>
    Queue,

    /// <summary>Resolving, connecting, the TLS handshake or the proxy's CONNECT (bounded by <c>ConnectTimeout</c> and <c>RequestTimeout</c>): "Timeout while connecting".</summary>
    Connect,

    /// <summary>Connected: sending the request or reading the response (bounded by <c>RequestTimeout</c>): "Timeout during request".</summary>
    Request,
}
