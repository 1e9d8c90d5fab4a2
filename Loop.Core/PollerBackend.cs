namespace Loop;

/// <summary>The kernel facility an <see cref="IOLoop"/> waits on.</summary>
public enum PollerBackend
{
    /// <summary>The best one for this OS: epoll on Linux, kqueue on macOS and the BSDs, poll elsewhere.</summary>
    Auto = 0,

    /// <summary>Linux epoll(7). Its descriptor is pollable, so a host can sleep on it.</summary>
    Epoll,

    /// <summary>kqueue(2) on macOS and the BSDs. Its descriptor is pollable, so a host can sleep on it.</summary>
    Kqueue,

    /// <summary>
    /// poll(2): available on every Unix. Each wait costs O(registered descriptors), and it has no
    /// descriptor of its own (<see cref="IOLoop.BackendFileDescriptor"/> is -1).
    /// </summary>
    Poll,
}
