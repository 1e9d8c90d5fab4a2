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
    private const string Usage = "usage: Loop.Benchmarks soak [--requests N] [--concurrency C] [--close] [--samples S] [--clients simple,curl] [--quiet]";

    public static int Run(string[] args)
    {
        // A misspelt option or value must not start a run of many minutes that ignores it.
        if (CommandArgs.FirstUnknown(args, ["--requests", "--concurrency", "--samples", "--clients"], ["--close", "--quiet"]) is { } unknown)
        {
            return UsageError($"unknown option, or an option without its value: {unknown}");
        }

        if (!TryCount(args, "--requests", 1_000_000, out int requests) || !TryCount(args, "--concurrency", 200, out int concurrency) || !TryCount(args, "--samples", 50, out int samples))
        {
            return UsageError("--requests, --concurrency and --samples take a whole number above zero");
        }

        bool close = args.Contains("--close");
        bool quiet = args.Contains("--quiet");
        string[] clients = (CommandArgs.Option(args, "--clients") ?? "simple,curl").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (clients.FirstOrDefault(c => c is not ("simple" or "curl")) is { } stranger)
        {
            return UsageError($"unknown client: {stranger} (simple or curl)");
        }

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

    private static bool TryCount(string[] args, string name, int fallback, out int value)
    {
        value = fallback;
        return CommandArgs.Option(args, name) is not { } text
            || (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0);
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"soak: {message}");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
