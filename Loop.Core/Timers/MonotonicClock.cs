using System.Diagnostics;

namespace Loop;

/// <summary>
/// The loop's clock: <see cref="Stopwatch"/> ticks (CLOCK_MONOTONIC on Linux), which never go
/// backwards when the wall clock is changed.
/// </summary>
internal static class MonotonicClock
{
    private static readonly double s_secondsPerTick = 1.0 / Stopwatch.Frequency;
    private static readonly double s_ticksPerTimeSpanTick = (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond;
    private static readonly long s_ticksPerMillisecond = Math.Max(1, Stopwatch.Frequency / 1000);

    /// <summary>Deadlines are clamped here so that adding a delay to "now" cannot overflow.</summary>
    internal const long MaxTicks = long.MaxValue / 4;

    internal static long Now => Stopwatch.GetTimestamp();

    internal static double ToSeconds(long ticks) => ticks * s_secondsPerTick;

    internal static long FromSeconds(double seconds)
    {
        double ticks = seconds * Stopwatch.Frequency;
        return ticks >= MaxTicks ? MaxTicks : ticks <= -MaxTicks ? -MaxTicks : (long)ticks;
    }

    internal static long FromTimeSpan(TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            return 0;
        }

        double ticks = delay.Ticks * s_ticksPerTimeSpanTick;
        return ticks >= MaxTicks ? MaxTicks : (long)ticks;
    }

    /// <summary>Milliseconds to wait until <paramref name="deadline"/>, rounded up so that a wait never ends early.</summary>
    internal static int MillisecondsUntil(long deadline, long now)
    {
        long remaining = deadline - now;
        if (remaining <= 0)
        {
            return 0;
        }

        long ms = (remaining + s_ticksPerMillisecond - 1) / s_ticksPerMillisecond;
        return ms >= int.MaxValue ? int.MaxValue : (int)ms;
    }
}
