using System.Runtime.InteropServices;

namespace Loop.Tests.Support;

/// <summary>Looks at this process's open descriptors (Linux /proc; on Windows, the handle table).</summary>
public static partial class Fds
{
    /// <summary>Whether the descriptor is open, even one whose /proc link cannot be followed (an epoll's here).</summary>
    public static bool IsListed(int fd) => Directory.GetFileSystemEntries("/proc/self/fd", fd.ToString(System.Globalization.CultureInfo.InvariantCulture)).Length > 0;

    /// <summary>Whether the descriptor (on Windows: the handle, such as a socket's) is open.</summary>
    public static bool IsOpen(int fd) => OperatingSystem.IsWindows()
        ? GetHandleInformation(fd, out _) != 0
        : File.Exists($"/proc/self/fd/{fd}") || Directory.Exists($"/proc/self/fd/{fd}");

    /// <summary>What the descriptor refers to (its /proc link, e.g. <c>anon_inode:[eventpoll]</c> or <c>socket:[1234]</c>), or null if closed.</summary>
    public static string? Target(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The socket inodes this process holds open whose remote end is <paramref name="port"/> on
    /// loopback: the client ends of connections to a local server (from /proc/net/tcp and tcp6).
    /// </summary>
    public static HashSet<string> ClientSocketsTo(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (string table in new[] { "/proc/self/net/tcp", "/proc/self/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            foreach (string line in File.ReadLines(table).Skip(1))
            {
                string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (columns.Length > 9 && int.Parse(columns[2].Split(':')[1], System.Globalization.NumberStyles.HexNumber) == port)
                {
                    inodes.Add(columns[9]);
                }
            }
        }

        var open = new HashSet<string>(StringComparer.Ordinal);
        foreach (string fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (Target(int.Parse(Path.GetFileName(fd))) is { } target && target.StartsWith("socket:[", StringComparison.Ordinal)
                && inodes.Contains(target["socket:[".Length..^1]))
            {
                open.Add(target);
            }
        }

        return open;
    }

    /// <summary>Runs <paramref name="action"/> on a new thread and fails if it has not finished in <paramref name="limit"/>.</summary>
    public static void RunBounded(Action action, TimeSpan limit)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        {
            IsBackground = true,
        };
        thread.Start();
        Assert.That(thread.Join(limit), Is.True, $"did not finish within {limit}");
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    // handleapi.h: BOOL GetHandleInformation(HANDLE hObject, LPDWORD lpdwFlags); FALSE for a closed handle.
    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial int GetHandleInformation(nint handle, out uint flags);
}
