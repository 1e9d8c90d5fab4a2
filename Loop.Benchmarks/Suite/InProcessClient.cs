using System.Diagnostics;
using Loop.Curl;
using Loop.Http;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Drives one of the .NET clients in this process: N workers, each fetching in a loop until the
/// time is up, as a user's code would (a request per fetch, the body buffered, <c>MaxClients</c>
/// or <c>MaxConnectionsPerServer</c> = concurrency and nothing else set). The <c>-pooled</c>
/// kinds are the same client with <see cref="HttpFetchOptions.PooledBody"/> on every request,
/// each response disposed once its status is checked. The <c>-value</c> kinds are what a caller
/// who counts allocations writes: one request object per worker, reused, and
/// <see cref="AsyncHttpClient.FetchValueAsync(HttpRequest, bool, CancellationToken)"/>. The
/// <c>-result</c> kind goes one step further, as a caller who streams the body writes: the reused
/// request has a <see cref="HttpFetchOptions.StreamingCallback"/> that counts the bytes, and the
/// fetch is <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>
/// (13 B keep-alive rows only). The client is made again when the
/// concurrency or the connection mode changes, and kept between repetitions.
/// </summary>
/// <remarks>
/// CPU time is the whole process's (<see cref="Environment.CpuUsage"/>), allocation and garbage
/// collections the whole process's (<see cref="GC.GetTotalAllocatedBytes"/>,
/// <see cref="GC.CollectionCount"/>, <see cref="GC.GetTotalPauseDuration"/>): this is meant to run
/// alone in a <c>bench-client</c> child so that nothing else is counted.
/// </remarks>
internal sealed class InProcessClient : IBenchClient
{
    /// <summary>The command-line names of the .NET clients, in report order.</summary>
    public static readonly string[] Kinds = ["simple", "simple-value", "simple-result", "simple-pooled", "curl", "curl-value", "curl-pooled", "httpclient"];

    private const string PooledSuffix = "-pooled";
    private const string ValueSuffix = "-value";
    private const string ResultSuffix = "-result";

    private readonly string _kind;
    private readonly LatencyHistogram _latencies = new();
    private LoadTarget? _target;
    private Scenario? _targetScenario;

    public InProcessClient(string kind)
    {
        if (Array.IndexOf(Kinds, kind) < 0)
        {
            throw new ArgumentException($"Unknown client '{kind}': one of {string.Join(", ", Kinds)}.", nameof(kind));
        }

        _kind = kind;
        Name = DisplayName(kind);
    }

    public string Name { get; }

    /// <summary>The report's name for a command-line client name.</summary>
    public static string DisplayName(string kind) => kind switch
    {
        "simple" => "SimpleAsyncHttpClient",
        "simple-value" => "SimpleAsyncHttpClient, FetchValueAsync",
        "simple-result" => "SimpleAsyncHttpClient, FetchResultAsync, streamed",
        "simple-pooled" => "SimpleAsyncHttpClient, pooled body",
        "curl" => "CurlAsyncHttpClient",
        "curl-value" => "CurlAsyncHttpClient, FetchValueAsync",
        "curl-pooled" => "CurlAsyncHttpClient, pooled body",
        "httpclient" => "HttpClient",
        _ => kind,
    };

    /// <summary>
    /// Whether <paramref name="kind"/> receives bodies into pooled memory
    /// (<see cref="HttpFetchOptions.PooledBody"/>): it runs only the 1 MiB scenarios, since a
    /// 13-byte body never reaches the large object heap and its rows would repeat the buffered ones.
    /// </summary>
    public static bool IsPooled(string kind) => kind.EndsWith(PooledSuffix, StringComparison.Ordinal);

    /// <summary>Whether <paramref name="kind"/> reuses a request per worker and awaits a value task (<see cref="AsyncHttpClient.FetchValueAsync(HttpRequest, bool, CancellationToken)"/>, or for <see cref="IsResult"/> <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>).</summary>
    public static bool IsValue(string kind) => kind.EndsWith(ValueSuffix, StringComparison.Ordinal) || IsResult(kind);

    /// <summary>Whether <paramref name="kind"/> streams each body to a callback and awaits <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>.</summary>
    public static bool IsResult(string kind) => kind.EndsWith(ResultSuffix, StringComparison.Ordinal);

    /// <summary>
    /// Whether a client of <paramref name="kind"/> takes part in <paramref name="scenario"/>: the
    /// pooled kinds only with the large body, the result kind only at 13 B with keep-alive (what
    /// it is about: a new connection allocates its own objects, and a large body is not streamed elsewhere).
    /// </summary>
    public static bool RunsScenario(string kind, Scenario scenario) =>
        IsPooled(kind) ? scenario.BodyBytes >= Scenario.LargeBody
        : !IsResult(kind) || (scenario.BodyBytes < Scenario.LargeBody && !scenario.Close);

    /// <inheritdoc/>
    public bool Runs(Scenario scenario) => RunsScenario(_kind, scenario);

    public Measurement Run(RunSpec spec)
    {
        try
        {
            // With thousands of connections (a fresh client every repetition): what they cost, from
            // a snapshot before the client exists and one halfway through the warm-up, all open.
            // The last scenario's client goes first: closed after the first snapshot, its
            // connections would be subtracted from this one's (512 fewer "open" ones, each
            // charged more memory).
            if (spec.CloseAfter)
            {
                Dispose();
            }

            MemorySnapshot? baseline = spec.CloseAfter ? MemorySnapshot.Take() : null;
            LoadTarget target = TargetFor(spec.Scenario);
            MemoryProbe? probe = baseline is null ? null
                : new MemoryProbe(Stopwatch.GetTimestamp() + (long)((spec.Warmup > TimeSpan.Zero ? spec.Warmup : spec.Duration).TotalSeconds / 2 * Stopwatch.Frequency));
            if (spec.Warmup > TimeSpan.Zero)
            {
                target.Drive(spec.Url, spec.Scenario.BodyBytes, Deadline(spec.Warmup), _latencies, probe: probe);
            }

            _latencies.Reset();
            bool probedBefore = probe?.Snapshot is not null;
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            int gen2 = GC.CollectionCount(2);
            TimeSpan pauses = GC.GetTotalPauseDuration();
            TimeSpan cpu = Environment.CpuUsage.TotalTime;
            long started = Stopwatch.GetTimestamp();
            (long ok, long errors) = target.Drive(spec.Url, spec.Scenario.BodyBytes, Deadline(spec.Duration), _latencies, probe: probe);
            double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            double cpuUs = (Environment.CpuUsage.TotalTime - cpu).TotalMicroseconds;
            long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            int collections = GC.CollectionCount(2) - gen2;
            TimeSpan paused = GC.GetTotalPauseDuration() - pauses;
            if (!probedBefore && probe is { Snapshot: not null })
            {
                // The memory snapshot's forced full collection fell in the window: it is ours, not the client's.
                collections = Math.Max(0, collections - 1);
                paused -= probe.Pause;
            }

            long all = Math.Max(1, ok + errors);
            string? firstError = target.FirstError;
            if (spec.CloseAfter)
            {
                Dispose();
            }

            var measurement = new Measurement
            {
                Client = Name,
                Scenario = spec.Scenario.Key,
                Repetition = spec.Repetition,
                Requests = ok,
                Errors = errors,
                Seconds = seconds,
                P50Us = _latencies.Percentile(50) / 1000,
                P99Us = _latencies.Percentile(99) / 1000,
                CpuUsPerRequest = cpuUs / all,
                BytesPerRequest = (double)bytes / all,
                Gen2PerThousand = collections * 1000.0 / all,
                GcPauseMsPerSecond = seconds > 0 ? Math.Max(0, paused.TotalMilliseconds) / seconds : null,
                FirstError = firstError,
            };
            if (baseline is not null && probe?.Snapshot is { } open && open.Descriptors > baseline.Descriptors)
            {
                int connections = open.Descriptors - baseline.Descriptors;
                measurement = measurement with
                {
                    OpenConnections = connections,
                    RssBytesPerConnection = baseline.RssBytes > 0 ? (double)(open.RssBytes - baseline.RssBytes) / connections : null,
                    HeapBytesPerConnection = (double)(open.HeapBytes - baseline.HeapBytes) / connections,
                };
            }

            return measurement;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The runner goes on with the other clients; the report shows why this one has no figures.
            Dispose();
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// The start-up measurement's load (<see cref="StartupProbe"/>): a new client for
    /// <paramref name="scenario"/>, fetching until <paramref name="deadline"/> (a
    /// <see cref="Stopwatch"/> timestamp), each response counted in <paramref name="timeline"/>.
    /// </summary>
    public (long Ok, long Errors) RunUntil(Scenario scenario, string baseUrl, long deadline, Timeline timeline)
    {
        LoadTarget target = TargetFor(scenario);
        return target.Drive(baseUrl.TrimEnd('/') + scenario.Path, scenario.BodyBytes, deadline, _latencies, timeline);
    }

    public void Dispose()
    {
        _target?.Dispose();
        _target = null;
        _targetScenario = null;
    }

    private LoadTarget TargetFor(Scenario scenario)
    {
        if (_target is not null && _targetScenario is { } current && current.Concurrency == scenario.Concurrency && current.Close == scenario.Close)
        {
            return _target;
        }

        Dispose();
        _target = _kind == "httpclient"
            ? new NetTarget(scenario.Concurrency, scenario.Close)
            : new LoopTarget(_kind, scenario.Concurrency, scenario.Close);
        _targetScenario = scenario;
        return _target;
    }

    private static long Deadline(TimeSpan duration) => Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);

    private static long Nanoseconds(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    /// <summary>A client set up for one concurrency and connection mode.</summary>
    private abstract class LoadTarget : IDisposable
    {
        /// <summary>What the first failed request said (its error's type and message), if any failed.</summary>
        public string? FirstError { get; protected set; }

        /// <summary>
        /// Fetches until <paramref name="deadline"/> (a <see cref="Stopwatch"/> timestamp); returns the
        /// 200s with a body of <paramref name="bodyBytes"/> and the rest. Each completion is also
        /// counted in <paramref name="timeline"/> and polls <paramref name="probe"/>, when given.
        /// </summary>
        public abstract (long Ok, long Errors) Drive(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline = null, MemoryProbe? probe = null);

        public abstract void Dispose();
    }

    /// <summary>One of our clients on an IOLoop of its own; the workers run on the loop thread.</summary>
    private sealed class LoopTarget : LoadTarget
    {
        private readonly IOLoop _loop = new();
        private readonly AsyncHttpClient _client;
        private readonly int _concurrency;
        private readonly bool _close;
        private readonly bool _pooled;
        private readonly bool _value;
        private readonly bool _result;
        private long _ok;
        private long _errors;

        public LoopTarget(string kind, int concurrency, bool close)
        {
            var settings = new AsyncHttpClientSettings { MaxClients = concurrency };
            _client = kind.StartsWith("curl", StringComparison.Ordinal) ? new CurlAsyncHttpClient(_loop, settings) : new SimpleAsyncHttpClient(_loop, settings);
            _concurrency = concurrency;
            _close = close;
            _pooled = IsPooled(kind);
            _value = IsValue(kind);
            _result = IsResult(kind);
        }

        public override (long Ok, long Errors) Drive(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline = null, MemoryProbe? probe = null)
        {
            _ok = 0;
            _errors = 0;
            FirstError = null;
            TimeSpan left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            _loop.RunSync(() => RunWorkersAsync(url, bodyBytes, deadline, latencies, timeline, probe), timeout: left + TimeSpan.FromMinutes(2));
            return (_ok, _errors);
        }

        private HttpRequest NewRequest(string url)
        {
            var request = new HttpRequest(url, headers: _close ? new HttpHeaders { { "Connection", "close" } } : null);
            if (_pooled)
            {
                request.PooledBody = true;
            }

            return request;
        }

        public override void Dispose()
        {
            _client.Close();
            _loop.Close(allFds: true);
        }

        private Task RunWorkersAsync(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline, MemoryProbe? probe)
        {
            var workers = new Task[_concurrency];
            for (int i = 0; i < workers.Length; i++)
            {
                workers[i] = WorkerAsync(url, bodyBytes, deadline, latencies, timeline, probe);
            }

            return Task.WhenAll(workers);
        }

        private async Task WorkerAsync(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline, MemoryProbe? probe)
        {
            if (_result)
            {
                await StreamingWorkerAsync(url, bodyBytes, deadline, latencies, timeline, probe);
                return;
            }

            HttpRequest? reused = _value ? NewRequest(url) : null;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                long started = Stopwatch.GetTimestamp();
                HttpResponse response = reused is not null
                    ? await _client.FetchValueAsync(reused, raiseError: false)
                    : await _client.FetchAsync(NewRequest(url), raiseError: false);
                long now = Stopwatch.GetTimestamp();
                latencies.Record(Nanoseconds(now - started));
                timeline?.Record(now);
                probe?.Poll(now);
                // BodyMemory: the body without a copy, buffered or pooled.
                int length = response.Code == 200 ? response.BodyMemory.Length : 0;
                Count(response.Code, length, bodyBytes, response.Error);

                if (_pooled)
                {
                    // Gives the body's memory back to the client's pool (the buffered kinds have nothing to give back).
                    response.Dispose();
                }
            }
        }

        /// <summary>The <c>-result</c> kind's worker: one request whose body goes to a callback that counts it, awaited as an <see cref="HttpResult"/>.</summary>
        private async Task StreamingWorkerAsync(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline, MemoryProbe? probe)
        {
            var counter = new StreamedBytes();
            HttpRequest request = NewRequest(url);
            request.StreamingCallback = counter.Add;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                long started = Stopwatch.GetTimestamp();
                counter.Bytes = 0;
                HttpResult result = await _client.FetchResultAsync(request, raiseError: false);
                long now = Stopwatch.GetTimestamp();
                latencies.Record(Nanoseconds(now - started));
                timeline?.Record(now);
                probe?.Poll(now);
                Count(result.Code, result.Code == 200 ? counter.Bytes : 0, bodyBytes, result.Error);
            }
        }

        private void Count(int code, long length, long bodyBytes, Exception? error)
        {
            if (code == 200 && length == bodyBytes)
            {
                _ok++;
            }
            else
            {
                _errors++;
                FirstError ??= error is not null ? $"{error.GetType().Name}: {error.Message}"
                    : code == 200 ? $"a body of {length} bytes, {bodyBytes} expected"
                    : $"HTTP {code}";
            }
        }

        /// <summary>A streaming callback's count of the body's bytes (a method group bound once per worker).</summary>
        private sealed class StreamedBytes
        {
            public long Bytes;

            public void Add(ReadOnlyMemory<byte> chunk) => Bytes += chunk.Length;
        }
    }

    /// <summary>System.Net.Http's HttpClient (SocketsHttpHandler), workers on the thread pool.</summary>
    private sealed class NetTarget : LoadTarget
    {
        private readonly SocketsHttpHandler _handler;
        private readonly System.Net.Http.HttpClient _client;
        private readonly int _concurrency;
        private readonly bool _close;
        private long _ok;
        private long _errors;

        public NetTarget(int concurrency, bool close)
        {
            _handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency };
            _client = new System.Net.Http.HttpClient(_handler);
            _concurrency = concurrency;
            _close = close;
        }

        public override (long Ok, long Errors) Drive(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline = null, MemoryProbe? probe = null)
        {
            _ok = 0;
            _errors = 0;
            FirstError = null;
            TimeSpan left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            var workers = new Task[_concurrency];
            for (int i = 0; i < workers.Length; i++)
            {
                workers[i] = Task.Run(() => WorkerAsync(url, bodyBytes, deadline, latencies, timeline, probe));
            }

            // The runner's own thread, which no loop owns: waiting here blocks nothing else.
            if (!Task.WhenAll(workers).Wait(left + TimeSpan.FromMinutes(2)))
            {
                throw new TimeoutException("HttpClient's workers did not finish in time.");
            }

            return (Interlocked.Read(ref _ok), Interlocked.Read(ref _errors));
        }

        public override void Dispose()
        {
            _client.Dispose();
            _handler.Dispose();
        }

        private async Task WorkerAsync(string url, long bodyBytes, long deadline, LatencyHistogram latencies, Timeline? timeline, MemoryProbe? probe)
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                long started = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    using var message = new HttpRequestMessage(HttpMethod.Get, url);
                    if (_close)
                    {
                        message.Headers.ConnectionClose = true;
                    }

                    using HttpResponseMessage response = await _client.SendAsync(message).ConfigureAwait(false);
                    byte[] body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                    ok = response.IsSuccessStatusCode && body.Length == bodyBytes;
                    if (!ok)
                    {
                        FirstError ??= response.IsSuccessStatusCode ? $"a body of {body.Length} bytes, {bodyBytes} expected" : $"HTTP {(int)response.StatusCode}";
                    }
                }
                catch (HttpRequestException e)
                {
                    // Counted, as the loop clients count their 599s; the run goes on.
                    ok = false;
                    FirstError ??= $"{e.GetType().Name}: {e.Message}";
                }

                long now = Stopwatch.GetTimestamp();
                latencies.Record(Nanoseconds(now - started));
                Interlocked.Increment(ref ok ? ref _ok : ref _errors);
                timeline?.Record(now);
                probe?.Poll(now);
            }
        }
    }
}
