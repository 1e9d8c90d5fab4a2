using System.Diagnostics;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Responses counted by when they completed: one counter per bucket of fixed length from an
/// origin (the moment the client's process was started, for the start-up measurement). Safe to
/// record from any thread (HttpClient's workers run on the thread pool).
/// </summary>
internal sealed class Timeline
{
    private readonly long _origin;
    private readonly long _bucketTicks;
    private readonly long[] _counts;
    private long _first;

    /// <summary>A timeline of <paramref name="buckets"/> buckets of <paramref name="bucket"/> each from <paramref name="origin"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public Timeline(long origin, TimeSpan bucket, int buckets)
    {
        _origin = origin;
        _bucketTicks = Math.Max(1, (long)(bucket.TotalSeconds * Stopwatch.Frequency));
        _counts = new long[buckets];
    }

    /// <summary>The counts per bucket, oldest first.</summary>
    public long[] Counts
    {
        get
        {
            long[] counts = new long[_counts.Length];
            for (int i = 0; i < counts.Length; i++)
            {
                counts[i] = Interlocked.Read(ref _counts[i]);
            }

            return counts;
        }
    }

    /// <summary>When the first response completed, as a <see cref="Stopwatch"/> timestamp; 0 before it.</summary>
    public long First => Interlocked.Read(ref _first);

    /// <summary>Counts a response that completed at <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp); outside the buckets it is not counted.</summary>
    public void Record(long timestamp)
    {
        long index = (timestamp - _origin) / _bucketTicks;
        if (index >= 0 && index < _counts.Length)
        {
            Interlocked.Increment(ref _counts[index]);
        }

        if (Interlocked.Read(ref _first) == 0)
        {
            Interlocked.CompareExchange(ref _first, timestamp, 0);
        }
    }
}
