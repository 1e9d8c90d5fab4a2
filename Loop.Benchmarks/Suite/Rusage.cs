using System.Runtime.InteropServices;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// getrusage(2) for the CPU time of child processes the runner has waited for: the difference
/// across one tool's run is that tool's user and system time, because the runner waits for one
/// tool at a time (the .NET children, which live on, are not waited for until the end).
/// </summary>
internal static partial class Rusage
{
    private const int RusageChildren = -1;

    /// <summary>The user + system CPU time of the waited-for children so far; null off Linux (the struct layout read here is Linux's).</summary>
    public static TimeSpan? ChildrenCpu()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // struct rusage: two timevals, then 14 longs; room for it all.
        Span<long> usage = stackalloc long[32];
        if (getrusage(RusageChildren, ref MemoryMarshal.GetReference(usage)) != 0)
        {
            return null;
        }

        long microseconds = ((usage[0] + usage[2]) * 1_000_000) + usage[1] + usage[3];
        return TimeSpan.FromMicroseconds(microseconds);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrusage(int who, ref long usage);
}
