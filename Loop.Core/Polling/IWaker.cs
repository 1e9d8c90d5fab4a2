namespace Loop.Polling;

/// <summary>
/// Wakes a loop blocked in its poller from another thread. The loop registers
/// <see cref="ReadFileDescriptor"/> for reading and calls <see cref="Drain"/> when it is ready.
/// </summary>
internal interface IWaker : IDisposable
{
    int ReadFileDescriptor { get; }

    /// <summary>The descriptor a wake writes to (the same as the read one for an eventfd).</summary>
    int WriteFileDescriptor { get; }

    /// <summary>Makes the read side readable. Thread-safe; many wakes before a drain cost one write.</summary>
    void Wake();

    /// <summary>Consumes pending wakes. Loop thread only.</summary>
    void Drain();

    /// <summary>Creates the waker for this OS: eventfd on Linux, a pipe elsewhere (or when <paramref name="forcePipe"/>).</summary>
    static IWaker Create(bool forcePipe) => OperatingSystem.IsLinux() && !forcePipe ? new EventFdWaker() : new PipeWaker();
}
