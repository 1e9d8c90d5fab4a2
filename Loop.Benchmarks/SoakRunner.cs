using System.Globalization;
using Loop.Http;
using Loop.Benchmarks.Suite;
using Loop.Soak;

namespace Loop.Benchmarks;

/// <summary>
/// The soak (issue 12): each client runs many requests against a server started here on
/// 127.0.0.1 (<see cref="SoakServer"/>) while fds, the loop's handlers and timers, the managed
/// heap and RSS are sampled; after warm-up every series must stay flat (fds within the runtime's
/// own couple of descriptors, handlers and timers exactly, heap and RSS within 5%). Prints a
/// summary table; exits with 1 when a series grows, 2 when a fetch fails.
/// </summary>
/// <remarks>
/// <c>soak [--requests N] [--concurrency C] [--close] [--samples S] [--clients simple,curl] [--quiet]</c>.
/// Without <c>--close</c> the requests are keep-alive; with it every one says <c>Connection: close</c>.
/// </remarks>
internal static class SoakRunner
{
    public static int Run(string[] args)
    {
        int requests = int.Parse(CommandArgs.Option(args, "--requests") ?? "1000000", CultureInfo.InvariantCulture);
        int concurrency = int.Parse(CommandArgs.Option(args, "--concurrency") ?? "200", CultureInfo.InvariantCulture);
        int samples = int.Parse(CommandArgs.Option(args, "--samples") ?? "50", CultureInfo.InvariantCulture);
        bool close = args.Contains("--close");
        bool quiet = args.Contains("--quiet");
        string[] clients = (CommandArgs.Option(args, "--clients") ?? "simple,curl").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var options = new SoakOptions(requests, concurrency, close, samples);
        var limits = new SoakLimits();

        Console.WriteLine($"soak: {requests:N0} requests per client, {concurrency} at once, {(close ? "Connection: close" : "keep-alive")}, {samples} samples, the first {options.WarmupFraction:P0} warm-up");
        var results = new List<SoakResult>();
        foreach (string name in clients)
        {
            Type type = name switch
            {
                "simple" => typeof(SimpleAsyncHttpClient),
                "curl" => typeof(Loop.Curl.CurlAsyncHttpClient),
                _ => throw new ArgumentException($"Unknown client '{name}' (simple or curl)."),
            };
            string run = $"{name} {(close ? "close" : "keep-alive")}";
            try
            {
                results.Add(RunOne(run, type, options, quiet ? null : Console.Out));
            }
            catch (Exception e) when (e is HttpClientError or InvalidOperationException or TimeoutException)
            {
                Console.WriteLine($"{run}: a fetch failed: {e}");
                return 2;
            }
        }

        Console.WriteLine();
        SoakResult.PrintTable(Console.Out, results, limits);
        bool flat = results.All(r => r.Check(limits).All(c => c.Passed));
        Console.WriteLine(flat ? "every series flat" : "a series grows: see GROWS above");
        return flat ? 0 : 1;
    }

    private static SoakResult RunOne(string name, Type type, SoakOptions options, TextWriter? progress)
    {
        using SoakServer server = SoakServer.Start(options.Close);
        using var loop = new IOLoop();
        var client = (AsyncHttpClient)Activator.CreateInstance(type, loop, SoakRun.Settings(options.Concurrency))!;
        try
        {
            return SoakRun.Execute(name, loop, client, server, options, progress);
        }
        finally
        {
            client.Close();
            while (loop.PendingCallbackCount > 0)
            {
                loop.RunOnce(TimeSpan.Zero);
            }
        }
    }
}
