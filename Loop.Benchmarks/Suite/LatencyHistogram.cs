using System.Numerics;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Request latencies in nanoseconds, counted in log-linear buckets (128 per power of two, so a
/// percentile is within 1% of the true value), allocated once: recording a request allocates
/// nothing and costs a few instructions and one interlocked add, the same for every client.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 7;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int LinearLimit = 2 * SubBuckets;

    private readonly long[] _counts = new long[64 * SubBuckets];

    /// <summary>The number of values recorded since the last <see cref="Reset"/>.</summary>
    public long Count
    {
        get
        {
            long total = 0;
            foreach (long count in _counts)
            {
                total += count;
            }

            return total;
        }
    }

    /// <summary>Records one latency. Safe to call from several threads at once.</summary>
    public void Record(long nanoseconds) => Interlocked.Increment(ref _counts[Index(Math.Max(0, nanoseconds))]);

    /// <summary>Forgets every value recorded.</summary>
    public void Reset() => Array.Clear(_counts);

    /// <summary>The value below which <paramref name="percentile"/> percent of the recorded values lie, in nanoseconds; NaN when nothing was recorded.</summary>
    public double Percentile(double percentile)
    {
        long total = Count;
        if (total == 0)
        {
            return double.NaN;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(total * percentile / 100.0));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Midpoint(i);
            }
        }

        return Midpoint(_counts.Length - 1);
    }

    // Values below 256 have a bucket each; above, each power of two is split into 128 buckets.
    internal static int Index(long value)
    {
        if (value < LinearLimit)
        {
            return (int)value;
        }

        int shift = BitOperations.Log2((ulong)value) - SubBucketBits;
        return ((shift + 1) << SubBucketBits) + (int)((value >> shift) - SubBuckets);
    }

    internal static double Midpoint(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }

        int shift = (index >> SubBucketBits) - 1;
        long low = (long)((index & (SubBuckets - 1)) + SubBuckets) << shift;
        return low + ((1L << shift) - 1) / 2.0;
    }
}
