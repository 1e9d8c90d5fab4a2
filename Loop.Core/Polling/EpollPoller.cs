using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>
/// Linux epoll, level-triggered. The kernel writes events into one buffer allocated once on the
/// pinned object heap, so it never moves and needs no freeing.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed unsafe class EpollPoller : IPoller
{
    private readonly FileDescriptorHandle _epoll;
    private readonly int _epfd;
    private readonly int _capacity;
    private readonly byte[] _buffer;
    private readonly byte* _events;

    internal EpollPoller(int capacity)
    {
        _epoll = FileDescriptorHandle.FromResult(Libc.epoll_create1(Libc.EPOLL_CLOEXEC), "epoll_create1");
        _epfd = _epoll.Fd;
        _capacity = capacity;
        _buffer = GC.AllocateArray<byte>(capacity * Libc.EpollEventSize, pinned: true);
        _events = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffer));
    }

    public PollerBackend Backend => PollerBackend.Epoll;

    public int BackendFileDescriptor => _epfd;

    public void Add(int fd, IOEvents events, ulong token) => Control(Libc.EPOLL_CTL_ADD, fd, events, token, "epoll_ctl(ADD)");

    public void Modify(int fd, IOEvents events, ulong token) => Control(Libc.EPOLL_CTL_MOD, fd, events, token, "epoll_ctl(MOD)");

    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame out of the callers (see Libc)
    public void Remove(int fd)
    {
        // Kernels before 2.6.9 demand a non-null event even for DEL.
        byte* ev = stackalloc byte[16];
        if (Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_DEL, fd, ev) != 0)
        {
            int errno = Libc.LastErrno;
            // ENOENT: not registered (or already dropped because its last descriptor closed).
            // EBADF: the descriptor is closed. Both mean there is nothing left to remove.
            if (errno != Libc.ENOENT && errno != Libc.EBADF)
            {
                NativeErrors.Throw("epoll_ctl(DEL)", errno);
            }
        }
    }

    public int Wait(Span<PollerEvent> events, int timeoutMilliseconds)
    {
        int max = Math.Min(events.Length, _capacity);
        int n = Libc.epoll_wait(_epfd, _events, max, timeoutMilliseconds);
        if (n < 0)
        {
            int errno = Libc.LastErrno;
            if (errno == Libc.EINTR)
            {
                return -1;
            }

            NativeErrors.Throw("epoll_wait", errno);
        }

        int size = Libc.EpollEventSize;
        int dataOffset = Libc.EpollDataOffset;
        for (int i = 0; i < n; i++)
        {
            byte* ev = _events + (i * size);
            uint flags = *(uint*)ev;
            IOEvents ready = IOEvents.None;
            if ((flags & (Libc.EPOLLIN | Libc.EPOLLPRI)) != 0)
            {
                ready |= IOEvents.Read;
            }

            if ((flags & Libc.EPOLLOUT) != 0)
            {
                ready |= IOEvents.Write;
            }

            if ((flags & (Libc.EPOLLERR | Libc.EPOLLHUP)) != 0)
            {
                ready |= IOEvents.Error;
            }

            events[i].Token = *(ulong*)(ev + dataOffset);
            events[i].Events = ready;
        }

        return n;
    }

    public void Dispose() => _epoll.Dispose();

    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame out of the callers (see Libc)
    private void Control(int op, int fd, IOEvents events, ulong token, string call)
    {
        byte* ev = stackalloc byte[16];
        uint flags = 0;
        if ((events & IOEvents.Read) != 0)
        {
            flags |= Libc.EPOLLIN;
        }

        if ((events & IOEvents.Write) != 0)
        {
            flags |= Libc.EPOLLOUT;
        }

        // EPOLLERR and EPOLLHUP are always reported; asking for them changes nothing.
        *(uint*)ev = flags;
        *(ulong*)(ev + Libc.EpollDataOffset) = token;
        if (Libc.epoll_ctl(_epfd, op, fd, ev) != 0)
        {
            NativeErrors.Throw(call, Libc.LastErrno);
        }
    }
}
