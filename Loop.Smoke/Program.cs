using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using Loop;
using Loop.Curl;
using Loop.Http;

namespace Loop.Smoke;

/// <summary>
/// The .NET 8 smoke (make smoke, run by make test): on the .NET 8 runtime, self-contained, with
/// the libraries' net8.0 builds, it runs the README's quick start and its HTTP example as printed
/// (pointed at a server it starts on 127.0.0.1), one fetch per client (simple, curl, blocking)
/// and the members that have .NET 8 stand-ins in the libraries. It prints each check and exits
/// 1 when any fails, 3 when it does not finish within two minutes.
/// </summary>
internal static class Program
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromMinutes(2);
    private static int s_checks;
    private static int s_failures;

    private static int Main()
    {
        Console.WriteLine("Loop net8.0 smoke");
        using var watchdog = new Timer(
            static _ =>
            {
                Console.Error.WriteLine($"FAIL  the smoke did not finish within {s_deadline.TotalSeconds} s");
                Environment.Exit(3);
            },
            null,
            s_deadline,
            Timeout.InfiniteTimeSpan);

        Section("runtime", CheckRuntime);
        Section("assemblies", CheckAssemblies);
        Section("README quick start", QuickStart);
        using (var server = new LocalServer())
        {
            Section("README HTTP example (SimpleAsyncHttpClient, BlockingHttpClient)", () => HttpExample(server.BaseUrl));
            Section("CurlAsyncHttpClient", () => CurlFetch(server.BaseUrl));
            Section("the .NET 8 stand-ins", () => StandIns(server.BaseUrl));
            Section("HttpClient on LoopHttpMessageHandler, with the Loop.Http meter", () => HandlerFetch(server.BaseUrl));
            Check(server.Requests >= 7, "local server answered every fetch", $"{server.Requests} requests on {server.BaseUrl}");
        }

        if (s_failures == 0)
        {
            Console.WriteLine($"net8.0 smoke: all {s_checks} checks passed");
            return 0;
        }

        Console.Error.WriteLine($"net8.0 smoke FAILED: {s_failures} of {s_checks} checks failed (see FAIL above)");
        return 1;
    }

    /// <summary>The process is the .NET 8 runtime, and that runtime came with the application (self-contained), not from an installation.</summary>
    private static void CheckRuntime()
    {
        Version version = Environment.Version;
        string description = RuntimeInformation.FrameworkDescription;
        Check(version.Major == 8, "Environment.Version is 8.x", version.ToString());
        Check(description.StartsWith(".NET 8.", StringComparison.Ordinal), "RuntimeInformation.FrameworkDescription is .NET 8", description);

        string coreLib = typeof(object).Assembly.Location;
        string appDirectory = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        Check(
            string.Equals(Path.GetDirectoryName(coreLib), appDirectory, StringComparison.Ordinal),
            "self-contained: the runtime is loaded from the application's folder",
            $"{coreLib} ({RuntimeInformation.RuntimeIdentifier})");
    }

    /// <summary>Each Loop library loaded is its net8.0 build, from the application's folder.</summary>
    private static void CheckAssemblies()
    {
        string appDirectory = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        foreach (Assembly assembly in (Assembly[])[typeof(IOLoop).Assembly, typeof(IOStream).Assembly, typeof(AsyncHttpClient).Assembly, typeof(CurlAsyncHttpClient).Assembly, typeof(LoopHttpMessageHandler).Assembly])
        {
            string? framework = assembly.GetCustomAttribute<TargetFrameworkAttribute>()?.FrameworkName;
            Check(
                framework == ".NETCoreApp,Version=v8.0" && string.Equals(Path.GetDirectoryName(assembly.Location), appDirectory, StringComparison.Ordinal),
                $"{assembly.GetName().Name} is the net8.0 build",
                $"{framework}, {assembly.Location}");
        }

        Assembly pipelines = typeof(System.IO.Pipelines.Pipe).Assembly;
        Check(
            string.Equals(Path.GetDirectoryName(pipelines.Location), appDirectory, StringComparison.Ordinal),
            "System.IO.Pipelines comes from its package (not part of .NET 8's framework)",
            $"{pipelines.GetName().Version}, {pipelines.Location}");
    }

    /// <summary>README.md's quick start, as printed, and the cross-thread AddCallback it mentions.</summary>
    private static void QuickStart()
    {
        var clock = Stopwatch.StartNew();

        // --- README.md, "Quick start", as printed ---
        using var loop = new IOLoop();

        // RunSync starts the loop, runs the function on it, and returns when its task completes.
        string answer = loop.RunSync(async () =>
        {
            // Timers and callbacks run on the loop thread.
            var done = new TaskCompletionSource();
            loop.CallLater(TimeSpan.FromMilliseconds(50), () => done.SetResult());
            await done.Task;

            // Blocking work goes to the thread pool; the await resumes on the loop thread.
            return await loop.RunInExecutor(() => System.Net.Dns.GetHostName());
        }, timeout: TimeSpan.FromSeconds(5));
        // --- end of the quick start ---

        clock.Stop();
        Check(answer == System.Net.Dns.GetHostName(), "RunSync returned RunInExecutor's result", $"'{answer}'");
        Check(clock.Elapsed >= TimeSpan.FromMilliseconds(45), "CallLater waited its 50 ms", $"{clock.Elapsed.TotalMilliseconds:F0} ms in RunSync");

        // "From any other thread, hand work to the loop with AddCallback (it wakes a sleeping loop)."
        bool onLoopThread = loop.RunSync(async () =>
        {
            var ran = new TaskCompletionSource<bool>();
            var other = new Thread(() => loop.AddCallback(() => ran.SetResult(loop.IsOnLoopThread)));
            other.Start();
            bool result = await ran.Task;
            other.Join();
            return result;
        }, timeout: TimeSpan.FromSeconds(5));
        Check(onLoopThread, "AddCallback from another thread woke the loop and ran on it", "IsOnLoopThread in the callback");
    }

    /// <summary>
    /// README.md's HTTP example, as printed but for the server's address, with what it prints
    /// captured and checked line by line; then one more blocking fetch with its body checked.
    /// </summary>
    private static void HttpExample(string server)
    {
        TextWriter console = Console.Out;
        var printed = new StringWriter();
        Console.SetOut(printed);
        try
        {
            ReadmeHttpExample(server);
        }
        finally
        {
            Console.SetOut(console);
            Console.Write(printed.ToString());
        }

        string[] lines = printed.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Check(lines.Length >= 4 && lines[0] == "200 OK: 12 bytes", "SimpleAsyncHttpClient GET /hello printed", lines.FirstOrDefault() ?? "nothing");
        int streamed = lines.Skip(1).Take(lines.Length - 3).Sum(static line => int.Parse(line.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
        Check(lines.Length >= 4 && streamed == 3 && lines[^2] == "ok", "SimpleAsyncHttpClient POST /echo: the chunked reply streamed, no error", $"{streamed} bytes streamed, then '{(lines.Length >= 2 ? lines[^2] : "")}'");
        Check(lines.Length >= 4 && lines[^1] == "200", "BlockingHttpClient GET /hello printed", lines.LastOrDefault() ?? "nothing");

        using var blocking = new BlockingHttpClient();
        using HttpResponse again = blocking.Fetch($"{server}/hello");
        Check(again.Code == 200 && again.Body.AsSpan().SequenceEqual("Hello, world"u8), "BlockingHttpClient GET /hello body", Describe(again));
    }

    /// <summary>README.md, "HTTP", as printed; http://127.0.0.1:8080 there is <paramref name="server"/> here.</summary>
    private static void ReadmeHttpExample(string server)
    {
        using var loop = new IOLoop();
        loop.RunSync(async () =>
        {
            AsyncHttpClient client = AsyncHttpClient.Create(loop);      // one per loop
            HttpResponse hello = await client.FetchAsync($"{server}/hello");
            Console.WriteLine($"{hello.Code} {hello.Reason}: {hello.Body.Length} bytes");

            // raiseError: false returns every response (code 599 when none arrived) instead of throwing.
            var post = new HttpRequest($"{server}/echo", "POST", body: "a=1"u8.ToArray())
            {
                RequestTimeout = TimeSpan.FromSeconds(5),
                StreamingCallback = chunk => Console.WriteLine($"{chunk.Length} bytes"),
            };
            HttpResponse echoed = await client.FetchAsync(post, raiseError: false);
            Console.WriteLine(echoed.Error?.Message ?? "ok");
        });

        // Without a loop of your own: a private loop runs on the calling thread for each fetch.
        using var blocking = new BlockingHttpClient();
        Console.WriteLine(blocking.Fetch($"{server}/hello").Code);
    }

    /// <summary>The README's curl configuration, as printed, and a fetch with the client it makes.</summary>
    private static void CurlFetch(string server)
    {
        AsyncHttpClient.Configure<Loop.Curl.CurlAsyncHttpClient>();   // Create() now makes curl clients
        try
        {
            using var loop = new IOLoop();
            using AsyncHttpClient client = AsyncHttpClient.Create(loop);
            Check(client is CurlAsyncHttpClient, "Configure<CurlAsyncHttpClient>: Create makes a curl client", client.GetType().FullName ?? "?");
            (HttpResponse hello, HttpResponse echoed) = loop.RunSync(async () =>
            {
                HttpResponse hello = await client.FetchAsync($"{server}/hello");
                HttpResponse echoed = await client.FetchAsync(new HttpRequest($"{server}/echo", "POST", body: "curl"u8.ToArray()));
                return (hello, echoed);
            }, timeout: TimeSpan.FromSeconds(30));
            Check(hello.Code == 200 && hello.Body.AsSpan().SequenceEqual("Hello, world"u8), "CurlAsyncHttpClient GET /hello", Describe(hello));
            Check(echoed.Code == 200 && echoed.Body.AsSpan().SequenceEqual("curl"u8), "CurlAsyncHttpClient POST /echo", Describe(echoed));
        }
        finally
        {
            AsyncHttpClient.Configure<SimpleAsyncHttpClient>();
        }
    }

    /// <summary>
    /// What takes a different path on .NET 8 (Loop.HttpClient/Compat): a fetch started off the
    /// loop thread (TaskCompletionSource.SetFromTask), and a Connection list whose second token
    /// is refused (span Split).
    /// </summary>
    private static void StandIns(string server)
    {
        using var loop = new IOLoop();
        using AsyncHttpClient client = AsyncHttpClient.Create(loop, forceInstance: true);
        (HttpResponse offLoop, bool startedOffLoop) = loop.RunSync(async () =>
        {
            bool offLoopThread = false;
            HttpResponse response = await Task.Run(() =>
            {
                offLoopThread = !loop.IsOnLoopThread;
                return client.FetchAsync($"{server}/hello");
            });
            return (response, offLoopThread);
        }, timeout: TimeSpan.FromSeconds(30));
        Check(startedOffLoop && offLoop.Code == 200, "FetchAsync called off the loop thread completes the caller's task", Describe(offLoop));

        var headers = new HttpHeaders();
        headers.Add("Connection", "keep-alive, Upgrade");
        string refusal = "not refused";
        try
        {
            _ = client.FetchAsync(new HttpRequest($"{server}/hello", headers: headers));
        }
        catch (ArgumentException e)
        {
            refusal = e.Message;
        }

        Check(refusal.Contains("upgrade", StringComparison.OrdinalIgnoreCase), "Connection: keep-alive, Upgrade is refused at the call", refusal);
    }

    /// <summary>Loop.Http.Handler's net8.0 build: a plain HttpClient on a handler with its own loop thread, observed by a MeterListener.</summary>
    private static void HandlerFetch(string server)
    {
        int measured = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == HttpClientDiagnostics.MeterName && instrument.Name == "http.client.request.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref measured));
        listener.Start();

        using var client = new System.Net.Http.HttpClient(new LoopHttpMessageHandler());
        using System.Net.Http.HttpResponseMessage response = client.GetAsync($"{server}/hello").GetAwaiter().GetResult(); // Main's thread, not a loop's.
        string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult(); // Likewise.
        Check((int)response.StatusCode == 200 && body == "Hello, world", "HttpClient GET /hello through LoopHttpMessageHandler", $"{(int)response.StatusCode}, '{body}', HTTP/{response.Version}");
        Check(Volatile.Read(ref measured) == 1, "http.client.request.duration recorded once", $"{measured} measurement(s)");
    }

    private static string Describe(HttpResponse? response) =>
        response is null ? "no response" : $"{response.Code} {response.Reason}, {response.Body.Length} bytes{(response.Error is { } error ? $", error: {error.Message}" : "")}";

    private static void Section(string name, Action run)
    {
        Console.WriteLine($"-- {name}");
        try
        {
            run();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The smoke's whole point is to report what broke: anything a section throws is a failure with its stack.
            Check(false, $"{name} threw", e.ToString());
        }
    }

    private static void Check(bool ok, string what, string detail)
    {
        s_checks++;
        if (ok)
        {
            Console.WriteLine($"ok    {what}: {detail}");
        }
        else
        {
            s_failures++;
            Console.WriteLine($"FAIL  {what}: {detail}");
        }
    }
}
