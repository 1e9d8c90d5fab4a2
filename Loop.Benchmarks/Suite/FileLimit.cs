using System.Runtime.InteropServices;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// The open-file limit (RLIMIT_NOFILE) the runner and its children inherit: 10,000 connections
/// need more than 10,000 descriptors in the client and in nginx's worker.
/// </summary>
internal static partial class FileLimit
{
    private const int RlimitNofile = 7;

    /// <summary>The current soft limit; null off Linux.</summary>
    public static long? Current()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<long> limit = stackalloc long[2];
        return getrlimit(RlimitNofile, ref MemoryMarshal.GetReference(limit)) == 0 ? limit[0] : null;
    }

    /// <summary>Raises the soft limit (and the hard one, which only root may) to at least <paramref name="wanted"/>; returns the limit in force afterwards.</summary>
    public static long? Raise(long wanted)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<long> limit = stackalloc long[2];
        if (getrlimit(RlimitNofile, ref MemoryMarshal.GetReference(limit)) != 0 || limit[0] >= wanted)
        {
            return limit[0];
        }

        Span<long> raised = [wanted, Math.Max(limit[1], wanted)];
        if (setrlimit(RlimitNofile, ref MemoryMarshal.GetReference(raised)) != 0)
        {
            // Not root: as far as the hard limit allows.
            raised[0] = Math.Min(wanted, limit[1]);
            raised[1] = limit[1];
            _ = setrlimit(RlimitNofile, ref MemoryMarshal.GetReference(raised));
        }

        return Current();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, ref long limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, ref long limit);
}
