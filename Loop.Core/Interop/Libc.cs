using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>
/// The few libc calls the loop needs that .NET does not expose: the pollers (epoll, kqueue,
/// poll) and eventfd; and, on Linux, a stream's own connect, recv, send and non-blocking
/// switch, which skip the per-call work of .NET's Socket methods. Everything else goes through
/// .NET's own types.
/// Calls return -1 and set errno on failure, as in C; callers turn that into exceptions.
/// Unix only: on Windows nothing may touch this class (its static constructor installs a
/// resolver for "libc", which does not exist there).
/// <para>
/// The wrappers that hot methods call are never inlined. A P/Invoke inlined into a method makes
/// the JIT set up its frame in that method's prologue (a call into the runtime and a
/// thread-local look-up) on every call, whether or not the P/Invoke runs on that call: in
/// <c>IOStream.UpdateInterest</c>, which seldom reaches epoll_ctl, that was most of its cost.
/// </para>
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static unsafe partial class Libc
{
    internal const string LibraryName = "libc";

    // errno values that the loop reacts to. EINTR and EAGAIN have the same value on Linux,
    // macOS and the BSDs; ENOENT and EBADF as well.
    internal const int ENOENT = 2;
    internal const int EINTR = 4;
    internal const int EBADF = 9;

    // A static constructor (not a field initializer) runs before the first call of any member,
    // including the P/Invoke stubs, so the resolver is in place before libc is first bound.
    static Libc()
    {
        NativeLibrary.SetDllImportResolver(typeof(Libc).Assembly, static (name, assembly, path) =>
        {
            if (name != LibraryName)
            {
                return IntPtr.Zero;
            }

            // "libc" alone makes the runtime try libc.so, which on glibc systems with the
            // development files installed is a linker script that dlopen rejects.
            string[] candidates = OperatingSystem.IsLinux() ? ["libc.so.6", "libc.musl-x86_64.so.1", "libc.so"]
                : OperatingSystem.IsMacOS() || OperatingSystem.IsIOS() ? ["/usr/lib/libSystem.dylib"]
                : OperatingSystem.IsFreeBSD() ? ["libc.so.7"]
                : ["libc"];
            foreach (string candidate in candidates)
            {
                if (NativeLibrary.TryLoad(candidate, assembly, path, out IntPtr handle))
                {
                    return handle;
                }
            }

            return IntPtr.Zero;
        });
    }

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint write(int fd, void* buffer, nint count);

    // ---- poll(2) ----

    internal const short POLLIN = 0x001;
    internal const short POLLPRI = 0x002;
    internal const short POLLOUT = 0x004;
    internal const short POLLERR = 0x008;
    internal const short POLLHUP = 0x010;
    internal const short POLLNVAL = 0x020;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    // ---- epoll(7), Linux only ----

    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1;
    internal const int EPOLL_CTL_DEL = 2;
    internal const int EPOLL_CTL_MOD = 3;
    internal const uint EPOLLIN = 0x001;
    internal const uint EPOLLPRI = 0x002;
    internal const uint EPOLLOUT = 0x004;
    internal const uint EPOLLERR = 0x008;
    internal const uint EPOLLHUP = 0x010;
    internal const uint EPOLLRDHUP = 0x2000;

    /// <summary>
    /// <c>struct epoll_event</c>. The kernel declares it packed on x86-64 (12 bytes: the data
    /// field sits at offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8), so
    /// the epoll poller reads events through <see cref="EpollEventSize"/> and
    /// <see cref="EpollDataOffset"/> instead of a fixed managed layout.
    /// </summary>
    internal static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Offset of <c>epoll_event.data</c>; see <see cref="EpollEventSize"/>.</summary>
    internal static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_create1(int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeoutMilliseconds);

    // ---- eventfd(2), Linux only ----

    internal const int EFD_CLOEXEC = 0x80000;
    internal const int EFD_NONBLOCK = 0x800;

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int eventfd(uint initialValue, int flags);

    // ---- kqueue(2), macOS and the BSDs ----

    internal const short EVFILT_READ = -1;
    internal const short EVFILT_WRITE = -2;
    internal const ushort EV_ADD = 0x0001;
    internal const ushort EV_DELETE = 0x0002;
    internal const ushort EV_ENABLE = 0x0004;
    internal const ushort EV_RECEIPT = 0x0040;
    internal const ushort EV_EOF = 0x8000;
    internal const ushort EV_ERROR = 0x4000;

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    /// <summary>
    /// <c>struct kevent</c> as macOS and FreeBSD before 12 declare it (32 bytes on 64-bit).
    /// FreeBSD 12 and later append <c>uint64_t ext[4]</c>; <see cref="KEvent64"/> is that
    /// layout, and the kqueue poller picks one by OS.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct KEvent
    {
        public nuint Ident;
        public short Filter;
        public ushort Flags;
        public uint FFlags;
        public nint Data;
        public nuint UData;
    }

    /// <summary><c>struct kevent</c> on FreeBSD 12 and later (64 bytes on 64-bit).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct KEvent64
    {
        public KEvent Core;
        public ulong Ext0;
        public ulong Ext1;
        public ulong Ext2;
        public ulong Ext3;
    }

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int kqueue();

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int kevent(int kq, void* changeList, int changeCount, void* eventList, int eventCount, TimeSpec* timeout);

    // ---- connect(2), for IOStream: .NET's Socket.Connect throws for a non-blocking connect in progress ----

    internal const int EINPROGRESS_Linux = 115;

    [LibraryImport(LibraryName, SetLastError = true)]
    private static partial int connect(int fd, byte* address, int length);

    /// <summary>Starts connecting <paramref name="fd"/> to <paramref name="sockaddr"/> (a native sockaddr). Returns 0 or the errno.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame here (see the class remarks)
    internal static int Connect(int fd, ReadOnlySpan<byte> sockaddr)
    {
        fixed (byte* address = sockaddr)
        {
            return connect(fd, address, sockaddr.Length) == 0 ? 0 : LastErrno;
        }
    }

    [LibraryImport(LibraryName)]
    private static partial int getpeername(int fd, byte* address, int* length);

    /// <summary>
    /// Whether <paramref name="fd"/>'s connect has already finished with a connection: Linux's
    /// getpeername(2) fails with ENOTCONN while the handshake is in progress (SYN_SENT) or after
    /// it failed, and succeeds once the connection is established (even if the peer has since
    /// closed its side).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame here (see the class remarks)
    internal static bool HasPeer(int fd)
    {
        byte* address = stackalloc byte[128];
        int length = 128;
        return getpeername(fd, address, &length) == 0;
    }

    // Linux's fcntl(2) commands and flag, send(2)'s flag that turns SIGPIPE into EPIPE.
    private const int F_GETFL_Linux = 3;
    private const int F_SETFL_Linux = 4;
    private const int O_NONBLOCK_Linux = 0x800;
    private const int MSG_NOSIGNAL_Linux = 0x4000;

    [LibraryImport(LibraryName, SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(LibraryName, SetLastError = true)]
    private static partial nint recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    private static partial nint send(int fd, byte* buffer, nint length, int flags);

    /// <summary>Linux: puts <paramref name="fd"/> in non-blocking mode. Returns 0 or the errno.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame here (see the class remarks)
    internal static int SetNonBlockingLinux(int fd)
    {
        int flags = fcntl(fd, F_GETFL_Linux, 0);
        if (flags < 0)
        {
            return LastErrno;
        }

        return (flags & O_NONBLOCK_Linux) != 0 || fcntl(fd, F_SETFL_Linux, flags | O_NONBLOCK_Linux) == 0 ? 0 : LastErrno;
    }

    /// <summary>Linux: one recv(2) on a non-blocking socket. Returns the bytes received (0 at the end of the stream), or -1 with <paramref name="errno"/> set.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame here (see the class remarks)
    internal static int ReceiveLinux(int fd, Span<byte> buffer, out int errno)
    {
        fixed (byte* data = buffer)
        {
            nint n = recv(fd, data, buffer.Length, 0);
            errno = n < 0 ? LastErrno : 0;
            return (int)n;
        }
    }

    /// <summary>Linux: one send(2) on a non-blocking socket, with no SIGPIPE. Returns the bytes sent, or -1 with <paramref name="errno"/> set.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the P/Invoke frame here (see the class remarks)
    internal static int SendLinux(int fd, ReadOnlySpan<byte> data, out int errno)
    {
        fixed (byte* bytes = data)
        {
            nint n = send(fd, bytes, data.Length, MSG_NOSIGNAL_Linux);
            errno = n < 0 ? LastErrno : 0;
            return (int)n;
        }
    }

    /// <summary>The errno of the last failed call on this thread.</summary>
    internal static int LastErrno => Marshal.GetLastPInvokeError();
}
