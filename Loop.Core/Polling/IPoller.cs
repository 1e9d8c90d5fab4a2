namespace Loop.Polling;

/// <summary>
/// A kernel readiness facility, the loop's only view of epoll, kqueue or poll (in the spirit of
/// libuv's per-platform <c>uv__io_poll</c> family). Registration is level-triggered. Changes
/// apply immediately, so <see cref="BackendFileDescriptor"/> always reflects them. Loop thread only.
/// </summary>
internal interface IPoller : IDisposable
{
    /// <summary>Which facility this is.</summary>
    PollerBackend Backend { get; }

    /// <summary>A descriptor that becomes readable when any registered one is ready, or -1 if there is none.</summary>
    int BackendFileDescriptor { get; }

    /// <summary>Starts watching <paramref name="fd"/>; the token comes back with each of its events.</summary>
    void Add(int fd, IOEvents events, ulong token);

    /// <summary>Changes what is watched on a registered descriptor.</summary>
    void Modify(int fd, IOEvents events, ulong token);

    /// <summary>Stops watching <paramref name="fd"/>. A descriptor already closed or unknown to the kernel is not an error.</summary>
    void Remove(int fd);

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> (-1: forever, 0: not at all) and fills
    /// <paramref name="events"/>. Returns the count, or -1 if a signal interrupted the wait (the
    /// caller retries with what is left of its timeout). Throws if the facility itself fails.
    /// </summary>
    int Wait(Span<PollerEvent> events, int timeoutMilliseconds);
}
