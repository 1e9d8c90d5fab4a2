namespace Loop.Benchmarks.Suite;

/// <summary>
/// What this process holds at one moment, after a full blocking collection: resident memory
/// (RSS, from <c>/proc/self/statm</c>), the live managed heap (<see cref="GC.GetTotalMemory"/>)
/// and the open file descriptors (<c>/proc/self/fd</c>). Two snapshots, before a client opens its
/// connections and while they are all open, give the memory per open connection.
/// </summary>
/// <param name="RssBytes">Resident set size in bytes; 0 where <c>/proc</c> is missing.</param>
/// <param name="HeapBytes">Bytes live on the managed heap after a full collection.</param>
/// <param name="Descriptors">Open file descriptors; 0 where <c>/proc</c> is missing.</param>
internal sealed record MemorySnapshot(long RssBytes, long HeapBytes, int Descriptors)
{
    /// <summary>Collects fully (blocking, compacting), then reads the three figures.</summary>
    public static MemorySnapshot Take()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        long heap = GC.GetTotalMemory(forceFullCollection: false);
        return new MemorySnapshot(Rss(), heap, OpenDescriptors());
    }

    private static long Rss()
    {
        // statm: size resident shared text lib data dt, in pages.
        const string Statm = "/proc/self/statm";
        if (!File.Exists(Statm))
        {
            return 0;
        }

        string[] fields = File.ReadAllText(Statm).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 1 && long.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long pages)
            ? pages * Environment.SystemPageSize
            : 0;
    }

    private static int OpenDescriptors() => Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : 0;
}

/// <summary>
/// Takes one <see cref="MemorySnapshot"/> at a set moment while a client is under load (all its
/// connections open): the first worker to finish a request after <see cref="At"/> takes it, on
/// its own thread (the loop thread for our clients: the loop pauses for the collection).
/// </summary>
internal sealed class MemoryProbe
{
    private int _taken;

    /// <summary>A probe that fires at <paramref name="at"/> (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public MemoryProbe(long at) => At = at;

    /// <summary>When to take the snapshot.</summary>
    public long At { get; }

    /// <summary>The snapshot, once taken.</summary>
    public MemorySnapshot? Snapshot { get; private set; }

    /// <summary>The GC pause of the snapshot's forced collection (<see cref="GC.GetTotalPauseDuration"/> across it), once taken.</summary>
    public TimeSpan Pause { get; private set; }

    /// <summary>Takes the snapshot if it is time and nobody has yet.</summary>
    public void Poll(long now)
    {
        if (now >= At && Interlocked.Exchange(ref _taken, 1) == 0)
        {
            TimeSpan before = GC.GetTotalPauseDuration();
            MemorySnapshot snapshot = MemorySnapshot.Take();
            Pause = GC.GetTotalPauseDuration() - before;
            Snapshot = snapshot;
        }
    }
}
