namespace Loop.Polling;

/// <summary>One readiness report from a poller: the token given at registration and what is ready.</summary>
internal struct PollerEvent
{
    public ulong Token;
    public IOEvents Events;
}
