using System.Diagnostics;
using System.Globalization;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Hostile;

/// <summary>
/// The fuzzer against both clients: every mutated response must end, within its timeout, in a
/// response or an <see cref="HttpClientError"/>; the loop must go on answering, no fetch may keep
/// its slot, and no descriptor may pile up. <c>make test</c> runs a short seeded pass;
/// <c>make fuzz</c> sets FUZZ_CASES (cases per client) and FUZZ_SEED for a long one and prints
/// the statistics; FUZZ_TRACE=1 prints each case before it runs, FUZZ_FIRST starts at that case. A finding is printed with its seed, index, recipe and bytes.
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class HostileFuzzTests(Type clientType) : HttpClientFixture(clientType)
{
    /// <summary>Cases per client when FUZZ_CASES is not set: the short pass of <c>make test</c>.</summary>
    public const int ShortPassCases = 200;

    public const int DefaultSeed = 20261129;

    /// <summary>Each fetch's request timeout: short, since a stalled or underfed case costs it.</summary>
    private static readonly TimeSpan s_fetchTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>How long past its timeout a fetch may take before it counts as hung.</summary>
    private static readonly TimeSpan s_hangAfter = TimeSpan.FromSeconds(3);

    private const int MaxClients = 4;

    [Test]
    public void Fetch_MutatedResponses_EndInAResponseOrAnHttpClientError_AndLeakNothing()
    {
        int cases = EnvironmentNumber("FUZZ_CASES") ?? ShortPassCases;
        int seed = EnvironmentNumber("FUZZ_SEED") ?? DefaultSeed;

        // The short pass takes a few seconds; a long one is bounded by its size.
        TimeSpan limit = TimeSpan.FromSeconds(30) + (cases * TimeSpan.FromMilliseconds(60));
        var stats = new FuzzStatistics(ClientType.Name, cases, seed);
        Loop.RunSync(() => RunAsync(cases, seed, stats), limit);
        TestContext.Out.WriteLine(stats.Summary());
        Assert.That(stats.Findings, Is.Empty, "findings (each replays with its seed; its bytes can become a catalogue case)");
    }

    private async Task RunAsync(int cases, int seed, FuzzStatistics stats)
    {
        using var server = new FuzzServer();
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxClients = MaxClients, MaxBodySize = 256 * 1024 });
        bool trace = Environment.GetEnvironmentVariable("FUZZ_TRACE") == "1";
        int warmUp = Math.Min(50, cases / 4);
        // Set after the warm-up; until then no growth is counted.
        int baselineFds = int.MaxValue;
        int loggedSoFar = 0;
        var clock = Stopwatch.StartNew();
        // FUZZ_FIRST skips the cases before it: a finding replays alone, or with what led up to it.
        int first = EnvironmentNumber("FUZZ_FIRST") ?? 0;
        for (int i = first; i < cases; i++)
        {
            FuzzCase fuzz = ResponseFuzzer.Make(seed, i);
            if (trace)
            {
                // Written before the case runs, so a crash of the process names it.
                TestContext.Progress.WriteLine($"case {i}: {fuzz.Recipe}: {fuzz.Literal}");
            }

            if (i == first + warmUp)
            {
                // Descriptors the runtime, Kestrel and the pools open once are not leaks.
                baselineFds = OpenFdCount();
            }

            server.Current = fuzz;
            string? finding = await RunCaseAsync(client, server, stats);
            if (finding is not null)
            {
                stats.Find(fuzz, finding);
                if (finding.StartsWith("hung", StringComparison.Ordinal) && client.ActiveCount > 0)
                {
                    // A fetch that neither completed nor gave up when cancelled: nothing after it would mean anything.
                    break;
                }
            }

            if (client.ActiveCount != 0)
            {
                stats.Find(fuzz, $"{client.ActiveCount} slot(s) still taken after the fetch ended");
            }

            // The loop still answers, on the same client.
            HttpResponse healthy = await client.FetchAsync(new HttpRequest(Server.Url("/hello")) { RequestTimeout = TimeSpan.FromSeconds(5) }, raiseError: false);
            if (healthy.Code != 200)
            {
                stats.Find(fuzz, $"healthy fetch afterwards: {Outcome.Actual(healthy)}");
            }

            if (i % 1000 == 999)
            {
                TestContext.Progress.WriteLine($"fuzz {ClientType.Name}: {i + 1} of {cases} cases, {stats.Findings.Count} findings");
            }

            if (i % 100 == 99 || i == cases - 1)
            {
                loggedSoFar = CheckLogAndFds(fuzz, stats, server, baselineFds, loggedSoFar);
            }
        }

        client.Close();
        for (int i = 0; i < 100 && Fds.ClientSocketsTo(server.Port).Count > 0; i++)
        {
            await Task.Yield();
        }

        stats.Elapsed = clock.Elapsed;
        int left = Fds.ClientSocketsTo(server.Port).Count;
        if (left > 0)
        {
            stats.Find(null, $"{left} socket(s) to the fuzz server still open after Close");
        }
    }

    private async Task<string?> RunCaseAsync(AsyncHttpClient client, FuzzServer server, FuzzStatistics stats)
    {
        using var cancel = new CancellationTokenSource();
        var request = new HttpRequest(server.Url) { RequestTimeout = s_fetchTimeout, FollowRedirects = false };
        Task<HttpResponse> fetch = client.FetchAsync(request, raiseError: false, cancellationToken: cancel.Token);
        HttpResponse response;
        try
        {
            response = await fetch.WaitAsync(s_fetchTimeout + s_hangAfter);
        }
        catch (TimeoutException)
        {
            stats.Count("hung");
            cancel.Cancel();
            try
            {
                await fetch.WaitAsync(s_hangAfter);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
                // Cancelled, or still stuck: the finding says it hung either way.
            }

            return $"hung: no outcome within {(s_fetchTimeout + s_hangAfter).TotalSeconds:0.#} s";
        }
        catch (Exception e) when (e is not HttpClientError)
        {
            // With raiseError off, nothing but a response may come back: anything thrown is a crash.
            stats.Count("crash");
            return $"crash: {e.GetType().Name}: {e.Message}";
        }

        if (response.Code == 599)
        {
            string type = response.Error?.GetType().Name ?? "no error";
            stats.Count($"599 {type}");
            return response.Error is HttpClientError ? null : $"599 without an HttpClientError: {type}";
        }

        stats.Count(response.Code is >= 100 and <= 999 ? $"{response.Code / 100}xx response" : $"response with code {response.Code}");
        return null;
    }

    private int CheckLogAndFds(FuzzCase fuzz, FuzzStatistics stats, FuzzServer server, int baselineFds, int loggedSoFar)
    {
        TestLog.Entry[] unexpected = [.. Log.Unexpected];
        foreach (TestLog.Entry entry in unexpected.Skip(loggedSoFar))
        {
            stats.Find(fuzz, $"logged (in the 100 cases up to this one): {entry.Level} {entry.Message} {entry.Exception?.GetType().Name}");
        }

        int held = Fds.ClientSocketsTo(server.Port).Count;
        if (held > MaxClients * 2)
        {
            stats.Find(fuzz, $"{held} sockets to the fuzz server held (at most {MaxClients} in use, plus their idle ones)");
        }

        int fds = OpenFdCount();
        if (baselineFds != int.MaxValue && fds > baselineFds + 64)
        {
            stats.Find(fuzz, $"{fds} descriptors open, {baselineFds} after the warm-up");
        }

        return unexpected.Length;
    }

    private static int OpenFdCount() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    private static int? EnvironmentNumber(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : null;

    /// <summary>Serves the current fuzz case to every request, on whatever connection it comes.</summary>
    private sealed class FuzzServer : IDisposable
    {
        private readonly RawHttpServer _server;

        private FuzzCase? _current;

        public FuzzServer() => _server = RawHttpServer.Start(ServeAsync);

        /// <summary>The case every request gets; set on the loop thread, read by the server's.</summary>
        public FuzzCase? Current
        {
            get => Volatile.Read(ref _current);
            set => Volatile.Write(ref _current, value);
        }

        public int Port => _server.Port;

        public string Url => _server.Url("/fuzz");

        public void Dispose() => _server.Dispose();

        private async Task ServeAsync(RawHttpServer.Connection connection)
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                FuzzCase fuzz = Current!;
                foreach (byte[] write in fuzz.Writes)
                {
                    await connection.WriteAsync(write);
                }

                switch (fuzz.End)
                {
                    case ServerEnd.KeepAlive:
                        continue;
                    case ServerEnd.Reset:
                        connection.Socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
                        connection.Socket.Close();
                        return;
                    case ServerEnd.Stall:
                        // Answers nothing more, until the client gives up and closes.
                        while (await connection.ReadRequestAsync() is not null)
                        {
                        }

                        return;
                    default:
                        return;
                }
            }
        }
    }

    /// <summary>Outcomes by kind, and the findings with what replays them.</summary>
    private sealed class FuzzStatistics(string client, int cases, int seed)
    {
        private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);

        public List<string> Findings { get; } = [];

        public TimeSpan Elapsed { get; set; }

        public void Count(string outcome) => _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;

        public void Find(FuzzCase? fuzz, string what) => Findings.Add(fuzz is null
            ? what
            : $"case {fuzz.Index} (replay: FUZZ_SEED={seed} FUZZ_CASES={fuzz.Index + 1}): {what}\n  recipe: {fuzz.Recipe}\n  bytes: {fuzz.Literal}");

        public string Summary()
        {
            var text = new System.Text.StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"fuzz {client}: {cases} cases, seed {seed}, {Elapsed.TotalSeconds:0.0} s\n");
            foreach ((string outcome, int count) in _outcomes)
            {
                text.Append(CultureInfo.InvariantCulture, $"  {outcome,-36} {count,7} ({100.0 * count / cases,5:0.0}%)\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"  crashes {_outcomes.GetValueOrDefault("crash")}, hangs {_outcomes.GetValueOrDefault("hung")}, findings {Findings.Count}\n");
            foreach (string finding in Findings.Take(20))
            {
                text.Append("  ").Append(finding).Append('\n');
            }

            return text.ToString();
        }
    }
}
