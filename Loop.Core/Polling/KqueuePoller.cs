using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>
/// kqueue(2) for macOS and the BSDs, level-triggered (no <c>EV_CLEAR</c>). Read and write
/// interest are separate filters, so one descriptor can yield two events in one batch; the
/// loop then calls its handler once for each.
/// </summary>
/// <remarks>
/// Written against the macOS and FreeBSD headers but never run by this project's tests, which
/// run on Linux only: treat it as unverified until a macOS or BSD machine runs the loop suite
/// against it. FreeBSD 12 and later use a 64-byte <c>struct kevent</c> (with <c>ext[4]</c>);
/// macOS and older FreeBSD use the 32-byte one.
/// </remarks>
[SupportedOSPlatform("macos")]
[SupportedOSPlatform("ios")]
[SupportedOSPlatform("freebsd")]
internal sealed unsafe class KqueuePoller : IPoller
{
    private static readonly bool s_extendedLayout = OperatingSystem.IsFreeBSD() && Environment.OSVersion.Version.Major >= 12;

    private readonly FileDescriptorHandle _kqueue;
    private readonly int _kq;
    private readonly int _capacity;
    private readonly int _stride;
    private readonly Dictionary<int, IOEvents> _interest = new();
    private readonly byte[] _buffer;
    private readonly byte* _events;

    internal KqueuePoller(int capacity)
    {
        _kqueue = FileDescriptorHandle.FromResult(Libc.kqueue(), "kqueue");
        _kq = _kqueue.Fd;
        _capacity = capacity;
        _stride = s_extendedLayout ? sizeof(Libc.KEvent64) : sizeof(Libc.KEvent);
        // On the pinned object heap: it never moves, and needs no freeing.
        _buffer = GC.AllocateArray<byte>(capacity * _stride, pinned: true);
        _events = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffer));
    }

    public PollerBackend Backend => PollerBackend.Kqueue;

    public int BackendFileDescriptor => _kq;

    public void Add(int fd, IOEvents events, ulong token)
    {
        if (_interest.ContainsKey(fd))
        {
            throw new InvalidOperationException($"File descriptor {fd} is already registered with the poller.");
        }

        Apply(fd, IOEvents.None, events, token);
        _interest[fd] = events & (IOEvents.Read | IOEvents.Write);
    }

    public void Modify(int fd, IOEvents events, ulong token)
    {
        if (!_interest.TryGetValue(fd, out IOEvents old))
        {
            NativeErrors.Throw("kevent modify", Libc.ENOENT);
        }

        // The token may change with the interest, so wanted filters are added again (EV_ADD on
        // an existing filter updates its udata) and unwanted ones deleted.
        Apply(fd, old, events, token);
        _interest[fd] = events & (IOEvents.Read | IOEvents.Write);
    }

    public void Remove(int fd)
    {
        if (!_interest.Remove(fd, out IOEvents old))
        {
            return;
        }

        if ((old & IOEvents.Read) != 0)
        {
            Change(fd, Libc.EVFILT_READ, Libc.EV_DELETE, 0, tolerateMissing: true);
        }

        if ((old & IOEvents.Write) != 0)
        {
            Change(fd, Libc.EVFILT_WRITE, Libc.EV_DELETE, 0, tolerateMissing: true);
        }
    }

    public int Wait(Span<PollerEvent> events, int timeoutMilliseconds)
    {
        Libc.TimeSpec ts;
        Libc.TimeSpec* timeout = null;
        if (timeoutMilliseconds >= 0)
        {
            ts.Seconds = timeoutMilliseconds / 1000;
            ts.Nanoseconds = (nint)(timeoutMilliseconds % 1000) * 1_000_000;
            timeout = &ts;
        }

        int max = Math.Min(events.Length, _capacity);
        int n = Libc.kevent(_kq, null, 0, _events, max, timeout);
        if (n < 0)
        {
            int errno = Libc.LastErrno;
            if (errno == Libc.EINTR)
            {
                return -1;
            }

            NativeErrors.Throw("kevent", errno);
        }

        for (int i = 0; i < n; i++)
        {
            Libc.KEvent* ev = (Libc.KEvent*)(_events + (i * _stride));
            IOEvents ready = IOEvents.None;
            if (ev->Filter == Libc.EVFILT_READ)
            {
                ready |= IOEvents.Read;
            }
            else if (ev->Filter == Libc.EVFILT_WRITE)
            {
                // A refused non-blocking connect shows up as a write event with EV_EOF; report it
                // as an error, as epoll and poll do.
                ready |= (ev->Flags & Libc.EV_EOF) != 0 ? IOEvents.Error : IOEvents.Write;
            }

            if ((ev->Flags & Libc.EV_ERROR) != 0)
            {
                ready |= IOEvents.Error;
            }

            events[i].Token = ev->UData;
            events[i].Events = ready;
        }

        return n;
    }

    public void Dispose() => _kqueue.Dispose();

    private void Apply(int fd, IOEvents old, IOEvents wanted, ulong token)
    {
        if ((wanted & IOEvents.Read) != 0)
        {
            Change(fd, Libc.EVFILT_READ, Libc.EV_ADD | Libc.EV_ENABLE, token, tolerateMissing: false);
        }
        else if ((old & IOEvents.Read) != 0)
        {
            Change(fd, Libc.EVFILT_READ, Libc.EV_DELETE, 0, tolerateMissing: true);
        }

        if ((wanted & IOEvents.Write) != 0)
        {
            Change(fd, Libc.EVFILT_WRITE, Libc.EV_ADD | Libc.EV_ENABLE, token, tolerateMissing: false);
        }
        else if ((old & IOEvents.Write) != 0)
        {
            Change(fd, Libc.EVFILT_WRITE, Libc.EV_DELETE, 0, tolerateMissing: true);
        }
    }

    private void Change(int fd, short filter, ushort flags, ulong token, bool tolerateMissing)
    {
        Libc.KEvent64 change = default;
        change.Core.Ident = (nuint)fd;
        change.Core.Filter = filter;
        change.Core.Flags = flags;
        change.Core.UData = (nuint)token;

        // With no room for output events, kevent reports a failed change through errno.
        if (Libc.kevent(_kq, &change, 1, null, 0, null) < 0)
        {
            int errno = Libc.LastErrno;
            if (tolerateMissing && (errno == Libc.ENOENT || errno == Libc.EBADF))
            {
                return;
            }

            NativeErrors.Throw(flags == Libc.EV_DELETE ? "kevent(EV_DELETE)" : "kevent(EV_ADD)", errno);
        }
    }
}
