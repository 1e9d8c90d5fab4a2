using System.Diagnostics;
using System.Globalization;
using Loop.Http;

namespace Loop.Soak;

/// <summary>What one soak run does: how many requests, how many at once, keep-alive or not, how often to sample.</summary>
/// <param name="Requests">Requests in the whole run.</param>
/// <param name="Concurrency">Fetches in flight at once (and the client's <see cref="AsyncHttpClient.MaxClients"/>).</param>
/// <param name="Close">Send <c>Connection: close</c> (and the server closes): a new connection per request.</param>
/// <param name="Samples">Sample points over the run, evenly spaced in requests.</param>
/// <param name="WarmupFraction">The share of the run (from its start) whose samples are warm-up, not checked.</param>
/// <param name="BatchTimeout">The longest one batch (the requests between two samples) may take; 10 minutes when null.</param>
public sealed record SoakOptions(int Requests, int Concurrency, bool Close, int Samples = 50, double WarmupFraction = 0.1, TimeSpan? BatchTimeout = null);

/// <summary>The process and loop at one sample point, taken between batches with no fetch in flight.</summary>
/// <param name="Requests">Requests completed so far.</param>
/// <param name="Seconds">Time since the run started.</param>
/// <param name="Fds">Open descriptors of the process (/proc/self/fd), servers' included.</param>
/// <param name="Handlers">Descriptors the client's loop watches.</param>
/// <param name="Timers">Timers pending on the client's loop.</param>
/// <param name="HeapBytes">Managed heap after a full, compacting collection.</param>
/// <param name="RssBytes">Resident set size (/proc/self/status VmRSS).</param>
/// <param name="ServerConnections">Connections the soak server holds open.</param>
public sealed record SoakSample(long Requests, double Seconds, int Fds, int Handlers, int Timers, long HeapBytes, long RssBytes, int ServerConnections);

/// <summary>
/// The soak: runs one client for many requests against a <see cref="SoakServer"/> in batches and
/// samples fds, the loop's handlers and timers, the managed heap and RSS between batches (when no
/// fetch is in flight, so the figures are exact rather than caught mid-request). Used by
/// <c>make soak</c> (Loop.Benchmarks links this file) and by the short soak test in Loop.Tests.
/// </summary>
public static class SoakRun
{
    /// <summary>The settings a user running this many fetches at once against one origin would write.</summary>
    public static AsyncHttpClientSettings Settings(int concurrency) =>
        new() { MaxClients = concurrency, MaxIdleConnectionsPerOrigin = concurrency };

    /// <summary>
    /// Runs <paramref name="options"/>'s requests through <paramref name="client"/> on
    /// <paramref name="loop"/> (driven from the calling thread, which must be allowed to run it) and
    /// returns the samples, the first taken before any request. Throws if a fetch fails.
    /// </summary>
    public static SoakResult Execute(string name, IOLoop loop, AsyncHttpClient client, SoakServer server, SoakOptions options, TextWriter? progress = null)
    {
        var samples = new List<SoakSample>(options.Samples + 1);
        var clock = Stopwatch.StartNew();
        samples.Add(Sample(0, clock, loop, server, options));
        long done = 0;
        for (int i = 1; i <= options.Samples; i++)
        {
            long target = (long)options.Requests * i / options.Samples;
            int batch = (int)(target - done);
            RunBatch(loop, client, server.Url, batch, options);
            done = target;
            SoakSample sample = Sample(done, clock, loop, server, options);
            samples.Add(sample);
            progress?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: {done,9:N0} requests {sample.Seconds,6:F1} s  fds {sample.Fds}  handlers {sample.Handlers}  timers {sample.Timers}  heap {sample.HeapBytes / 1024.0:N0} KB  rss {sample.RssBytes / 1048576.0:N1} MB"));
        }

        return new SoakResult(name, options, samples, clock.Elapsed);
    }

    /// <summary>Open descriptors of this process.</summary>
    public static int OpenFds() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>The managed heap after a full, compacting collection with finalizers run.</summary>
    public static long SettledHeap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    /// <summary>The resident set size of this process in bytes (VmRSS), 0 where /proc is missing.</summary>
    public static long ResidentBytes()
    {
        if (!File.Exists("/proc/self/status"))
        {
            return 0;
        }

        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    private static SoakSample Sample(long requests, Stopwatch clock, IOLoop loop, SoakServer server, SoakOptions options)
    {
        // The server closes its ends on its own threads: let it finish what the batch started
        // (bounded, so a server-side leak shows in the figures instead of hanging the run).
        int expected = options.Close ? 0 : options.Concurrency;
        SpinWait.SpinUntil(() => server.OpenConnections <= expected, TimeSpan.FromSeconds(2));
        long heap = SettledHeap();
        return new SoakSample(requests, clock.Elapsed.TotalSeconds, OpenFds(), loop.HandlerCount, loop.PendingTimeoutCount, heap, ResidentBytes(), server.OpenConnections);
    }

    private static void RunBatch(IOLoop loop, AsyncHttpClient client, string url, int requests, SoakOptions options)
    {
        bool close = options.Close;
        loop.RunSync(async () =>
        {
            int next = 0;
            async Task WorkerAsync()
            {
                while (next < requests)
                {
                    next++;
                    var request = new HttpRequest(url, headers: close ? new HttpHeaders { { "Connection", "close" } } : null);
                    HttpResponse response = await client.FetchAsync(request);
                    if (response.Body.Length != 12)
                    {
                        throw new InvalidOperationException($"A soak response had {response.Body.Length} bytes of body instead of 12.");
                    }
                }
            }

            await Task.WhenAll(Enumerable.Range(0, Math.Min(options.Concurrency, requests)).Select(_ => WorkerAsync()));
        }, timeout: options.BatchTimeout ?? TimeSpan.FromMinutes(10));
    }
}
