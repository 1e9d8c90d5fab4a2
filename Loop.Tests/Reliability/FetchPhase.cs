namespace Loop.Tests.Reliability;

/// <summary>A phase a fetch goes through, where a test can hold it (<see cref="PhaseScene"/>).</summary>
public enum FetchPhase
{
    /// <summary>Waiting for a slot.</summary>
    Queued,

    /// <summary>TCP connect to a listener whose backlog is full: the SYN is never answered.</summary>
    Connecting,

    /// <summary>Connected to an https URL whose server never answers the ClientHello.</summary>
    TlsHandshake,

    /// <summary>Sending a body whose producer is awaiting something that does not come.</summary>
    SendingBody,

    /// <summary>Request sent, the server says nothing.</summary>
    WaitingForTheHead,

    /// <summary>Head and part of the body received, the rest does not come.</summary>
    MidBody,

    /// <summary>The async streaming callback holds the first part of the body and has not returned.</summary>
    PausedInAsyncStreamingCallback,

    /// <summary>Following a 302 to a server that says nothing.</summary>
    FollowingARedirect,
}
