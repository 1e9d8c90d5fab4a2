using System.Runtime.InteropServices;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// The libc calls a game server's own main loop makes (Linux): an epoll set, a periodic
/// timerfd, the monotonic clock. Declared here rather than borrowed from Loop.Core's internals,
/// as a host written outside the library would declare them. Calls return -1 and set errno on
/// failure, as in C.
/// </summary>
internal static unsafe partial class HostLibc
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;

    public const int ClockMonotonic = 1;
    public const int ClockThreadCpuTime = 3;
    public const int RusageThread = 1;
    public const int EpollCloexec = 0x80000;
    public const int EpollCtlAdd = 1;
    public const uint EpollIn = 0x001;

    // TFD_NONBLOCK and TFD_CLOEXEC are O_NONBLOCK and O_CLOEXEC.
    public const int TimerNonBlock = 0x800;
    public const int TimerCloexec = 0x80000;
    public const int TimerAbsolute = 1;

    /// <summary>
    /// The size of <c>struct epoll_event</c>: packed on x86-64 (12 bytes, the data at offset 4),
    /// naturally aligned elsewhere (16 bytes, the data at offset 8).
    /// </summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>The offset of <c>epoll_event.data</c>; see <see cref="EpollEventSize"/>.</summary>
    public static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public nint Seconds;
        public nint Nanoseconds;

        public static TimeSpec FromNanoseconds(long nanoseconds) => new() { Seconds = (nint)(nanoseconds / 1_000_000_000), Nanoseconds = (nint)(nanoseconds % 1_000_000_000) };
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct TimerSpec
    {
        public TimeSpec Interval;
        public TimeSpec Value;
    }

    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>CLOCK_MONOTONIC in nanoseconds: the clock the timerfd counts on.</summary>
    public static long MonotonicNanoseconds()
    {
        TimeSpec now;
        if (clock_gettime(ClockMonotonic, &now) != 0)
        {
            throw new InvalidOperationException($"clock_gettime failed (errno {LastErrno}).");
        }

        return ((long)now.Seconds * 1_000_000_000) + now.Nanoseconds;
    }

    /// <summary>The CPU time the calling thread has used so far, nanoseconds (CLOCK_THREAD_CPUTIME_ID).</summary>
    public static long ThreadCpuNanoseconds()
    {
        TimeSpec now;
        if (clock_gettime(ClockThreadCpuTime, &now) != 0)
        {
            throw new InvalidOperationException($"clock_gettime failed (errno {LastErrno}).");
        }

        return ((long)now.Seconds * 1_000_000_000) + now.Nanoseconds;
    }

    /// <summary>
    /// The calling thread's involuntary context switches so far (getrusage RUSAGE_THREAD,
    /// ru_nivcsw): how often the scheduler gave its core to another thread.
    /// </summary>
    public static long InvoluntarySwitches()
    {
        // struct rusage: two timevals (four longs), then 14 longs, ru_nivcsw the last.
        long* usage = stackalloc long[18];
        return getrusage(RusageThread, usage) == 0 ? usage[17] : throw new InvalidOperationException($"getrusage failed (errno {LastErrno}).");
    }

    /// <summary>Adds <paramref name="fd"/> to the epoll set for readability, tagged with <paramref name="token"/>.</summary>
    public static void AddReadable(int epfd, int fd, ulong token)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = EpollIn;
        *(ulong*)(ev + EpollDataOffset) = token;
        if (epoll_ctl(epfd, EpollCtlAdd, fd, ev) != 0)
        {
            throw new InvalidOperationException($"epoll_ctl(ADD, {fd}) failed (errno {LastErrno}).");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int clock_gettime(int clock, TimeSpec* now);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeoutMilliseconds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int timerfd_create(int clock, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int timerfd_settime(int fd, int flags, TimerSpec* value, TimerSpec* old);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrusage(int who, long* usage);
}
