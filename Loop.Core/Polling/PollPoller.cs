using System.Runtime.Versioning;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>
/// poll(2), the portable backend. Keeps a dense <c>pollfd</c> array (removal swaps the last
/// entry in) and an index by descriptor, so add, modify and remove are O(1); a wait is
/// O(registered). Ready entries are scanned from a rotating start so that, when more are ready
/// than the caller's buffer holds, the ones left over come first next time.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed unsafe class PollPoller : IPoller
{
    private Libc.PollFd[] _fds = new Libc.PollFd[16];
    private ulong[] _tokens = new ulong[16];
    private int[] _indexByFd = CreateIndex(64);
    private int _count;
    private int _scanStart;

    public PollerBackend Backend => PollerBackend.Poll;

    public int BackendFileDescriptor => -1;

    public void Add(int fd, IOEvents events, ulong token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        if (fd < _indexByFd.Length && _indexByFd[fd] >= 0)
        {
            throw new InvalidOperationException($"File descriptor {fd} is already registered with the poller.");
        }

        if (fd >= _indexByFd.Length)
        {
            int[] grown = CreateIndex(Math.Max(fd + 1, _indexByFd.Length * 2));
            _indexByFd.CopyTo(grown, 0);
            _indexByFd = grown;
        }

        if (_count == _fds.Length)
        {
            Array.Resize(ref _fds, _count * 2);
            Array.Resize(ref _tokens, _count * 2);
        }

        _fds[_count] = new Libc.PollFd { Fd = fd, Events = ToPoll(events) };
        _tokens[_count] = token;
        _indexByFd[fd] = _count;
        _count++;
    }

    public void Modify(int fd, IOEvents events, ulong token)
    {
        int index = IndexOf(fd);
        if (index < 0)
        {
            NativeErrors.Throw("poll modify", Libc.ENOENT);
        }

        _fds[index].Events = ToPoll(events);
        _fds[index].REvents = 0;
        _tokens[index] = token;
    }

    public void Remove(int fd)
    {
        int index = IndexOf(fd);
        if (index < 0)
        {
            return;
        }

        int last = _count - 1;
        if (index != last)
        {
            _fds[index] = _fds[last];
            _tokens[index] = _tokens[last];
            _indexByFd[_fds[index].Fd] = index;
        }

        _fds[last] = default;
        _tokens[last] = 0;
        _indexByFd[fd] = -1;
        _count = last;
    }

    public int Wait(Span<PollerEvent> events, int timeoutMilliseconds)
    {
        int ready;
        fixed (Libc.PollFd* fds = _fds)
        {
            ready = Libc.poll(fds, (nuint)_count, timeoutMilliseconds);
        }

        if (ready < 0)
        {
            int errno = Libc.LastErrno;
            if (errno == Libc.EINTR)
            {
                return -1;
            }

            NativeErrors.Throw("poll", errno);
        }

        if (ready == 0 || _count == 0)
        {
            return 0;
        }

        int n = 0;
        int start = _scanStart % _count;
        for (int step = 0; step < _count && n < events.Length && ready > 0; step++)
        {
            int i = start + step;
            if (i >= _count)
            {
                i -= _count;
            }

            short revents = _fds[i].REvents;
            if (revents == 0)
            {
                continue;
            }

            ready--;
            _fds[i].REvents = 0;
            IOEvents mapped = IOEvents.None;
            if ((revents & (Libc.POLLIN | Libc.POLLPRI)) != 0)
            {
                mapped |= IOEvents.Read;
            }

            if ((revents & Libc.POLLOUT) != 0)
            {
                mapped |= IOEvents.Write;
            }

            // POLLNVAL: the descriptor was closed while still registered.
            if ((revents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0)
            {
                mapped |= IOEvents.Error;
            }

            events[n].Token = _tokens[i];
            events[n].Events = mapped;
            n++;
            _scanStart = i + 1;
        }

        return n;
    }

    public void Dispose()
    {
        _count = 0;
    }

    private static short ToPoll(IOEvents events)
    {
        short flags = 0;
        if ((events & IOEvents.Read) != 0)
        {
            flags |= Libc.POLLIN;
        }

        if ((events & IOEvents.Write) != 0)
        {
            flags |= Libc.POLLOUT;
        }

        return flags;
    }

    private static int[] CreateIndex(int length)
    {
        int[] index = new int[length];
        Array.Fill(index, -1);
        return index;
    }

    private int IndexOf(int fd) => fd >= 0 && fd < _indexByFd.Length ? _indexByFd[fd] : -1;
}
