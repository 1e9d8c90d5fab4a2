using System.Runtime.Versioning;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>An eventfd (Linux): one descriptor, an 8-byte counter, never fills up.</summary>
[SupportedOSPlatform("linux")]
internal sealed unsafe class EventFdWaker : IWaker
{
    private readonly FileDescriptorHandle _handle;
    private readonly int _fd;

    // 1 while a write is outstanding, so a burst of wakes costs one syscall (libuv's uv_async_send).
    private int _pending;

    internal EventFdWaker()
    {
        _handle = FileDescriptorHandle.FromResult(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
        _fd = _handle.Fd;
    }

    public int ReadFileDescriptor => _fd;

    public int WriteFileDescriptor => _fd;

    public void Wake()
    {
        if (Volatile.Read(ref _pending) != 0 || Interlocked.Exchange(ref _pending, 1) != 0)
        {
            return;
        }

        ulong one = 1;
        // A failed write (the counter would overflow) still leaves the eventfd readable, which
        // is all a wake needs.
        _ = Libc.write(_fd, &one, sizeof(ulong));
    }

    public void Drain()
    {
        // Read first, then clear the flag. The other way round, a wake landing between the two
        // took the flag and wrote, the read swallowed that write, and the flag stayed set over
        // an empty eventfd: every later Wake returned early and the loop slept through them
        // (until a timer or I/O woke it). Now a wake before the clear finds the flag set and
        // needs no write (its callback is queued, and the loop takes the queue after this
        // drain); a wake after it writes again.
        ulong value;
        _ = Libc.read(_fd, &value, sizeof(ulong));
        Volatile.Write(ref _pending, 0);
    }

    public void Dispose() => _handle.Dispose();
}
