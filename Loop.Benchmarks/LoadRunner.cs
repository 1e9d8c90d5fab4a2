using System.Diagnostics;
using System.Globalization;
using Loop.Http;

namespace Loop.Benchmarks;

/// <summary>
/// The load comparison: the same requests at several concurrencies against the same server, by
/// <see cref="SimpleAsyncHttpClient"/> on one IOLoop and by System.Net.Http's HttpClient
/// (SocketsHttpHandler with the same connection limit), keep-alive or <c>Connection: close</c>,
/// printing requests/second, the ratio, and bytes allocated per request, all in one run.
/// </summary>
/// <remarks>
/// <c>load --url URL [--requests N] [--concurrency 1,64,512] [--close] [--warmup SECONDS] [--rounds R]</c>.
/// Pin the client and the server to different cores (taskset) for figures worth comparing;
/// each cell is the median of the rounds, and the two clients alternate within a round.
/// </remarks>
internal static class LoadRunner
{
    public static int Run(string[] args)
    {
        string url = Option(args, "--url") ?? throw new ArgumentException("load needs --url http://host:port/path");
        int requests = int.Parse(Option(args, "--requests") ?? "20000", CultureInfo.InvariantCulture);
        int[] concurrencies = (Option(args, "--concurrency") ?? "1,64,512").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        bool close = args.Contains("--close");
        double warmup = double.Parse(Option(args, "--warmup") ?? "5", CultureInfo.InvariantCulture);
        int rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);

        Console.WriteLine($"{requests} requests to {url}, {(close ? "Connection: close" : "keep-alive")}, median of {rounds} alternating rounds");
        Console.WriteLine($"{"concurrency",11} {"Loop req/s",12} {"HttpClient req/s",17} {"ratio",7} {"Loop B/req",11} {"HttpClient B/req",17}");
        foreach (int concurrency in concurrencies)
        {
            using var loop = new IOLoop();
            var loopClient = new SimpleAsyncHttpClient(loop, new AsyncHttpClientSettings { MaxClients = concurrency, MaxIdleConnectionsPerOrigin = concurrency });
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseCookies = false, AutomaticDecompression = System.Net.DecompressionMethods.None };
            using var netClient = new System.Net.Http.HttpClient(handler);

            // Warm up both (tiering, connections), for the given time each.
            Measure(() => LoopRound(loop, loopClient, url, requests, concurrency, close), warmup);
            Measure(() => NetRound(netClient, url, requests, concurrency, close), warmup);

            var loopResults = new List<(double Rps, double Bytes)>();
            var netResults = new List<(double Rps, double Bytes)>();
            for (int round = 0; round < rounds; round++)
            {
                loopResults.Add(Once(() => LoopRound(loop, loopClient, url, requests, concurrency, close), requests));
                netResults.Add(Once(() => NetRound(netClient, url, requests, concurrency, close), requests));
            }

            loopClient.Close();
            (double loopRps, double loopBytes) = Median(loopResults);
            (double netRps, double netBytes) = Median(netResults);
            Console.WriteLine($"{concurrency,11} {loopRps,12:N0} {netRps,17:N0} {loopRps / netRps,6:F2}x {loopBytes,11:N0} {netBytes,17:N0}");
        }

        return 0;
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static void Measure(Action round, double seconds)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            round();
        }
    }

    private static (double Rps, double Bytes) Once(Action round, int requests)
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long started = Stopwatch.GetTimestamp();
        round();
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return (requests / seconds, (double)bytes / requests);
    }

    private static (double, double) Median(List<(double Rps, double Bytes)> results)
    {
        var byRps = results.OrderBy(r => r.Rps).ToList();
        var byBytes = results.OrderBy(r => r.Bytes).ToList();
        return (byRps[byRps.Count / 2].Rps, byBytes[byBytes.Count / 2].Bytes);
    }

    private static void LoopRound(IOLoop loop, AsyncHttpClient client, string url, int requests, int concurrency, bool close)
    {
        loop.RunSync(async () =>
        {
            int next = 0;
            async Task WorkerAsync()
            {
                while (next < requests)
                {
                    next++;
                    // A request per fetch, as HttpClient gets a message per send: both allocations count.
                    var request = new HttpRequest(url, headers: close ? new HttpHeaders { { "Connection", "close" } } : null);
                    HttpResponse response = await client.FetchAsync(request);
                    if (response.Code != 200)
                    {
                        throw new InvalidOperationException($"HTTP {response.Code}");
                    }
                }
            }

            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => WorkerAsync()));
        }, timeout: TimeSpan.FromMinutes(5));
    }

    private static void NetRound(System.Net.Http.HttpClient client, string url, int requests, int concurrency, bool close)
    {
        int next = 0;
        async Task WorkerAsync()
        {
            while (Interlocked.Increment(ref next) <= requests)
            {
                using var message = new HttpRequestMessage(HttpMethod.Get, url);
                if (close)
                {
                    message.Headers.ConnectionClose = true;
                }

                using HttpResponseMessage response = await client.SendAsync(message).ConfigureAwait(false);
                _ = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"HTTP {(int)response.StatusCode}");
                }
            }
        }

        Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(WorkerAsync))).GetAwaiter().GetResult(); // The runner's own thread, not a loop's.
    }
}
