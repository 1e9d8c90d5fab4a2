using System.Runtime.Versioning;

namespace Loop.Polling;

/// <summary>
/// Wakes a loop blocked in its poller from another thread. On Unix the loop registers
/// <see cref="ReadFileDescriptor"/> for reading; on Windows the poller itself reports the
/// waker's posted packet (see <see cref="IocpWaker"/>). Either way the loop calls
/// <see cref="Drain"/> when the wake is delivered.
/// </summary>
internal interface IWaker : IDisposable
{
    /// <summary>The descriptor the loop watches for reading, or -1 when the poller delivers wakes itself (IOCP).</summary>
    int ReadFileDescriptor { get; }

    /// <summary>The descriptor a wake writes to (the same as the read one for an eventfd; -1 for IOCP).</summary>
    int WriteFileDescriptor { get; }

    /// <summary>Makes the read side readable. Thread-safe; many wakes before a drain cost one write.</summary>
    void Wake();

    /// <summary>Consumes pending wakes. Loop thread only.</summary>
    void Drain();

    /// <summary>Creates the waker for this OS: eventfd on Linux, a pipe elsewhere (or when <paramref name="forcePipe"/>).</summary>
    [UnsupportedOSPlatform("windows")]
    static IWaker Create(bool forcePipe) => OperatingSystem.IsLinux() && !forcePipe ? new EventFdWaker() : new PipeWaker();
}
