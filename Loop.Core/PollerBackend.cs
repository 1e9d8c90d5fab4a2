namespace Loop;

/// <summary>The kernel facility an <see cref="IOLoop"/> waits on.</summary>
public enum PollerBackend
{
    /// <summary>
    /// The best one for this OS: epoll on Linux, kqueue on macOS and the BSDs, IOCP on Windows,
    /// poll elsewhere.
    /// </summary>
    Auto = 0,

    /// <summary>Linux epoll(7). Its descriptor is pollable, so a host can sleep on it. Linux only.</summary>
    Epoll,

    /// <summary>
    /// kqueue(2) on macOS and the BSDs. Its descriptor is pollable, so a host can sleep on it.
    /// Not yet verified on a real macOS or BSD machine.
    /// </summary>
    Kqueue,

    /// <summary>
    /// poll(2): available on every Unix, not on Windows. Each wait costs O(registered
    /// descriptors), and it has no descriptor of its own (<see cref="IOLoop.BackendFileDescriptor"/> is -1).
    /// </summary>
    Poll,

    /// <summary>
    /// Windows: readiness from AFD poll requests completing on an I/O completion port, as libuv,
    /// mio and wepoll do it; a wake from another thread is a posted completion. Only sockets can
    /// be registered (a descriptor is a SOCKET handle as an <see cref="int"/>). There is no
    /// pollable descriptor (<see cref="IOLoop.BackendFileDescriptor"/> is -1), so a host ticks
    /// the loop with <see cref="IOLoop.RunOnce(System.TimeSpan)"/> and <see cref="IOLoop.BackendTimeout"/>.
    /// Windows only.
    /// </summary>
    Iocp,
}
