using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Sockets;

namespace Loop;

/// <summary>
/// <c>dns.lookup.duration</c> (s), with <c>dns.question.name</c> and, for a failed lookup,
/// <c>error.type</c>: on a meter named <c>Loop.Http</c>, the HTTP clients' (a listener that
/// enables that meter gets both; this library has its own instance of it).
/// </summary>
internal static class DnsTelemetry
{
    public const string MeterName = "Loop.Http";

    private static readonly Meter s_meter = new(MeterName, typeof(DnsTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Histogram<double> LookupDuration = s_meter.CreateHistogram<double>(
        "dns.lookup.duration", "s", "Measures the time taken to perform a DNS lookup.");

    /// <summary>Records a lookup of <paramref name="host"/> that started at <paramref name="started"/> (<see cref="Stopwatch"/> ticks) and ended now.</summary>
    public static void Record(string host, long started, Exception? error) =>
        Record(host, Stopwatch.GetElapsedTime(started).TotalSeconds, error);

    /// <summary>Records a lookup of <paramref name="host"/> that took <paramref name="seconds"/>.</summary>
    public static void Record(string host, double seconds, Exception? error)
    {
        if (!LookupDuration.Enabled)
        {
            return;
        }

        var tags = new TagList { { "dns.question.name", host } };
        if (error is not null)
        {
            tags.Add("error.type", error is SocketException socket ? ErrorName(socket.SocketErrorCode) : error.GetType().FullName);
        }

        LookupDuration.Record(seconds, tags);
    }

    /// <summary>System.Net.NameResolution's names for the common failures (host_not_found, try_again…).</summary>
    private static string ErrorName(SocketError error) => error switch
    {
        SocketError.HostNotFound => "host_not_found",
        SocketError.TryAgain => "try_again",
        SocketError.AddressFamilyNotSupported => "address_family_not_supported",
        SocketError.NoRecovery => "no_recovery",
        SocketError.NoData => "no_data",
        _ => "_OTHER",
    };
}
