namespace Loop.Http;

/// <summary>
/// A fetch ran out of time (code 599). <see cref="Phase"/> says where it was; the message is
/// Tornado's for that phase: "Timeout in request queue", "Timeout while connecting",
/// "Timeout during request".
/// </summary>
public sealed class HttpTimeoutError : HttpClientError
{
    /// <summary>Creates the error for <paramref name="phase"/>, with Tornado's message for it unless <paramref name="message"/> is given.</summary>
    public HttpTimeoutError(HttpTimeoutPhase phase, string? message = null)
        : base(message ?? MessageFor(phase), null)
    {
        Phase = phase;
    }

    /// <summary>Where the fetch was when its time ran out.</summary>
    public HttpTimeoutPhase Phase { get; }

    private static string MessageFor(HttpTimeoutPhase phase) => phase switch
    {
        HttpTimeoutPhase.Queue => "Timeout in request queue",
        HttpTimeoutPhase.Connect => "Timeout while connecting",
        _ => "Timeout during request",
    };
}
