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
/// <c>load --url URL [--requests N] [--concurrency 1,64,512] [--close] [--warmup SECONDS] [--rounds R]
/// [--clients simple,curl,httpclient,curl-tool]</c>.
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
        using AllocationSampler? sampler = args.Contains("--alloc-profile") ? new AllocationSampler() : null;
        HashSet<string> runs = [.. (Option(args, "--clients") ?? "simple,curl,httpclient,curl-tool").Split(',')];

        Console.WriteLine($"{requests} requests to {url}, {(close ? "Connection: close" : "keep-alive")}, median of {rounds} alternating rounds");
        Console.WriteLine($"{"concurrency",11} {"simple req/s",13} {"curl-client",12} {"HttpClient",11} {"curl -Z",9} {"simple/HC",10} {"curl/-Z",8} {"simple B/req",13} {"curl B/req",11} {"HC B/req",9}");
        foreach (int concurrency in concurrencies)
        {
            using var loop = new IOLoop();
            var simple = new SimpleAsyncHttpClient(loop, new AsyncHttpClientSettings { MaxClients = concurrency, MaxIdleConnectionsPerOrigin = concurrency });
            // Each client on a loop of its own, so neither runs with the other's timers and sockets.
            using var curlLoop = new IOLoop();
            var curl = new Loop.Curl.CurlAsyncHttpClient(curlLoop, new AsyncHttpClientSettings { MaxClients = concurrency });
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseCookies = false, AutomaticDecompression = System.Net.DecompressionMethods.None };
            using var netClient = new System.Net.Http.HttpClient(handler);

            // Warm up each (tiering, connections), for the given time each.
            Measure(() => LoopRound(loop, simple, url, requests, concurrency, close), runs.Contains("simple") ? warmup : 0);
            Measure(() => LoopRound(curlLoop, curl, url, requests, concurrency, close), runs.Contains("curl") ? warmup : 0);
            Measure(() => NetRound(netClient, url, requests, concurrency, close), runs.Contains("httpclient") ? warmup : 0);

            var simpleResults = new List<(double Rps, double Bytes)>();
            var curlResults = new List<(double Rps, double Bytes)>();
            var netResults = new List<(double Rps, double Bytes)>();
            var curlToolResults = new List<(double Rps, double Bytes)>();
            for (int round = 0; round < rounds; round++)
            {
                sampler?.Start();
                simpleResults.Add(runs.Contains("simple") ? Once(() => LoopRound(loop, simple, url, requests, concurrency, close), requests) : (double.NaN, double.NaN));
                sampler?.Stop();
                curlResults.Add(runs.Contains("curl") ? Once(() => LoopRound(curlLoop, curl, url, requests, concurrency, close), requests) : (double.NaN, double.NaN));
                netResults.Add(runs.Contains("httpclient") ? Once(() => NetRound(netClient, url, requests, concurrency, close), requests) : (double.NaN, double.NaN));
                curlToolResults.Add(runs.Contains("curl-tool") ? Once(() => CurlToolRound(url, requests, concurrency, close), requests) : (double.NaN, double.NaN));
            }

            simple.Close();
            curl.Close();
            (double simpleRps, double simpleBytes) = Median(simpleResults);
            (double curlRps, double curlBytes) = Median(curlResults);
            (double netRps, double netBytes) = Median(netResults);
            (double toolRps, _) = Median(curlToolResults);
            Console.WriteLine($"{concurrency,11} {simpleRps,13:N0} {curlRps,12:N0} {netRps,11:N0} {toolRps,9:N0} {simpleRps / netRps,9:F2}x {curlRps / toolRps,7:F2}x {simpleBytes,13:N0} {curlBytes,11:N0} {netBytes,9:N0}");
        }

        if (sampler is not null)
        {
            Console.WriteLine("What the simple client's rounds allocated, sampled by type:");
            sampler.Print(Console.Out);
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

    /// <summary>The native reference: the curl command line fetching the same requests in parallel mode, on the same connection limit.</summary>
    private static void CurlToolRound(string url, int requests, int concurrency, bool close)
    {
        // URL globbing makes one transfer per number; the query does not change the response.
        string separator = url.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        var start = new ProcessStartInfo("curl")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "-s", "--no-progress-meter", "-Z", "--parallel-max", concurrency.ToString(CultureInfo.InvariantCulture), "--fail" })
        {
            start.ArgumentList.Add(argument);
        }

        if (close)
        {
            start.ArgumentList.Add("-H");
            start.ArgumentList.Add("Connection: close");
        }

        start.ArgumentList.Add($"{url}{separator}n=[1-{requests}]");
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("curl could not be started.");
        process.StandardOutput.BaseStream.CopyTo(Stream.Null);
        process.WaitForExit(); // The runner's own thread, not a loop's.
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"curl exited with {process.ExitCode}");
        }
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
