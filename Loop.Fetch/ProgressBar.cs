using System.Globalization;
using System.Text;

namespace Loop.Fetch;

/// <summary>
/// The text of the progress line: bytes received, the rate, and with a known length the share
/// done, a bar and the time left. A pure function of its inputs, so that it can be tested
/// without a terminal; <see cref="ProgressDisplay"/> draws it.
/// </summary>
internal static class ProgressBar
{
    /// <summary>The bar's width in characters, between its brackets.</summary>
    public const int BarWidth = 20;

    /// <summary>The line for <paramref name="received"/> bytes of <paramref name="total"/> (null: unknown) after <paramref name="elapsed"/>.</summary>
    /// <param name="received">Bytes received so far, over all URLs.</param>
    /// <param name="total">Bytes expected over all URLs; null when any length is unknown.</param>
    /// <param name="elapsed">Time since the fetches started.</param>
    /// <param name="finished">URLs finished, shown when <paramref name="count"/> is more than one.</param>
    /// <param name="count">URLs fetched.</param>
    public static string Render(long received, long? total, TimeSpan elapsed, int finished = 0, int count = 1)
    {
        double seconds = elapsed.TotalSeconds;
        double rate = seconds > 0 ? received / seconds : 0;
        var line = new StringBuilder(80);
        if (total is > 0 and long length)
        {
            long shown = Math.Min(received, length);
            int filled = (int)(shown * BarWidth / length);
            line.Append(CultureInfo.InvariantCulture, $"{shown * 100 / length,3}% [")
                .Append('#', filled).Append('.', BarWidth - filled).Append("] ")
                .Append(Size(received)).Append(" / ").Append(Size(length));
        }
        else
        {
            line.Append(Size(received));
        }

        line.Append("  ").Append(Size((long)rate)).Append("/s");
        if (total is > 0 and long expected && rate > 0 && received < expected)
        {
            line.Append("  ETA ").Append(Duration((expected - received) / rate));
        }

        if (count > 1)
        {
            line.Append(CultureInfo.InvariantCulture, $"  {finished}/{count} done");
        }

        return line.ToString();
    }

    /// <summary><paramref name="bytes"/> in B, KiB, MiB or GiB: <c>512 B</c>, <c>1.5 KiB</c>, <c>12.3 MiB</c>.</summary>
    public static string Size(long bytes)
    {
        if (bytes < 1024)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
        }

        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        double value = bytes / 1024.0;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{value:F1} {units[unit]}");
    }

    /// <summary><paramref name="seconds"/> as <c>m:ss</c>, or <c>h:mm:ss</c> from an hour on (rounded up).</summary>
    public static string Duration(double seconds)
    {
        long whole = (long)Math.Ceiling(Math.Min(seconds, 359_999));
        return whole >= 3600
            ? string.Create(CultureInfo.InvariantCulture, $"{whole / 3600}:{whole / 60 % 60:D2}:{whole % 60:D2}")
            : string.Create(CultureInfo.InvariantCulture, $"{whole / 60}:{whole % 60:D2}");
    }
}
