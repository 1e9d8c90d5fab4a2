using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Loop.Http;

/// <summary>
/// One fetch as the clients see it: the caller's request, the effective one (defaults filled in),
/// the parsed URL, the deadlines and the timings. Reused by the client for later fetches once
/// this one has ended (<see cref="Reset"/>), so a fetch allocates none of this in steady state.
/// For <see cref="AsyncHttpClient.FetchValueAsync(HttpRequest, bool, CancellationToken)"/> it is
/// also the source of the caller's value task, and goes back to the pool when the caller has
/// taken the outcome; for <see cref="AsyncHttpClient.FetchResultAsync(HttpRequest, bool, CancellationToken)"/>
/// it also keeps the response object that its 2xx answers are written into and copied out of.
/// </summary>
internal sealed class FetchState : IValueTaskSource<HttpResponse>, IValueTaskSource<HttpResult>
{
    // The caller's value task (FetchValueAsync); _valueOwner is set while one waits on this state.
    private ManualResetValueTaskSourceCore<HttpResponse> _valueSource;
    private AsyncHttpClient? _valueOwner;

    // FetchResultAsync's: whether the caller takes an HttpResult, and the response refilled for it.
    private bool _resultCaller;
    private HttpResponse? _reused;

    /// <summary>The response this state refills for <c>FetchResultAsync</c>, once it made one (for tests).</summary>
    internal HttpResponse? ReusedResponse => _reused;

    // The effective request of the first hop, reused from fetch to fetch.
    private readonly HttpRequest _effective = new(string.Empty);
    private long _startTimestamp;
    private long _hopStartTimestamp;
    private int _hops;

    // The call was made on the loop thread and runs on from it with nothing but this client's
    // code in between (see StartHopAtCall).
    private bool _runsFromCall;

    public HttpRequest Original { get; private set; } = null!;

    /// <summary>The request of the current hop, defaults filled in (a redirect replaces it).</summary>
    public HttpRequest Request { get; set; } = null!;

    /// <summary>The parsed URL of the current hop.</summary>
    public RequestUrl Url { get; set; } = null!;

    public bool RaiseError { get; private set; }

    public CancellationToken CancellationToken { get; private set; }

    public DateTimeOffset StartTime { get; private set; }

    /// <summary>Loop time by which the whole fetch must end (+∞: no limit).</summary>
    public double Deadline { get; private set; }

    /// <summary>Loop time by which a queued fetch must have a slot.</summary>
    public double QueueDeadline { get; private set; }

    /// <summary>The phase timings, refilled for each fetch (a response keeps a copy of them).</summary>
    public FetchTimes Times { get; } = new();

    public TimeSpan QueueTime => Times.Get(FetchTimes.Queue);

    /// <summary>Completes the caller's task (set while the fetch runs).</summary>
    public System.Runtime.CompilerServices.AsyncTaskMethodBuilder<HttpResponse> Completion;

    /// <summary>The implementation's fetch, while it is awaited.</summary>
    public System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable<HttpResponse>.ConfiguredValueTaskAwaiter CoreAwaiter;

    /// <summary>Whether the fetch reports to a listener or logger (<see cref="HttpTelemetry"/>): set at its start, for the whole fetch.</summary>
    public bool Observed;

    /// <summary>Whether it was counted in <c>http.client.active_requests</c> (and must be taken off at its end).</summary>
    public bool CountedActive;

    /// <summary>The URL the fetch started with (its metrics' attributes), while it is observed.</summary>
    public RequestUrl? StartUrl;

    /// <summary>The HTTP version of the final response's status line (its metrics' and span's <c>network.protocol.version</c>), set by the implementation.</summary>
    public Version? ResponseVersion;

    /// <summary>The status code of the redirect the current hop ended with (the simple client's, for <see cref="AsyncHttpClient"/>'s redirect event).</summary>
    public int RedirectCode;

    /// <summary>The fetch's span, when a listener made one.</summary>
    public Activity? Activity;

    /// <summary>When the call was made (<see cref="Stopwatch"/> ticks): <c>http.client.request.duration</c> counts from here.</summary>
    public long StartTimestamp => _startTimestamp;

    /// <summary>The continuation that ends the fetch, made once per state (the state is reused).</summary>
    public Action? OnCoreCompleted;

    /// <summary>
    /// Starts a fetch of <paramref name="original"/> (already validated against its effective form)
    /// at <paramref name="timestamp"/> (<see cref="Stopwatch"/> ticks, one reading for the
    /// fetch's timings and its deadlines on the loop's clock).
    /// </summary>
    public void Reset(HttpRequest original, HttpFetchOptions? defaults, RequestUrl url, bool raiseError, CancellationToken cancellationToken, long timestamp)
    {
        Original = original;
        original.CopyWithDefaults(_effective, defaults);
        Request = _effective;
        Url = url;
        RaiseError = raiseError;
        CancellationToken = cancellationToken;
        StartTime = DateTimeOffset.UtcNow;
        _startTimestamp = timestamp;
        _hopStartTimestamp = timestamp;
        _hops = 0;
        _runsFromCall = false;
        Times.Clear();
        Times.Set(FetchTimes.Queue, TimeSpan.Zero);
        TimeSpan request = _effective.RequestTimeout!.Value;
        TimeSpan connect = _effective.ConnectTimeout!.Value;
        double now = IOLoop.TimeOf(timestamp);
        Deadline = request > TimeSpan.Zero ? now + request.TotalSeconds : double.PositiveInfinity;
        double connectDeadline = connect > TimeSpan.Zero ? now + connect.TotalSeconds : double.PositiveInfinity;
        QueueDeadline = Math.Min(Deadline, connectDeadline);
    }

    /// <summary>Lets go of what the fetch referred to, before the state waits for reuse.</summary>
    public void Release()
    {
        _resultCaller = false;
        Original = null!;
        Request = null!;
        Url = null!;
        CancellationToken = default;
        Observed = false;
        CountedActive = false;
        StartUrl = null;
        Activity = null;
        ResponseVersion = null;
        _effective.Body = null;
        _effective.BodyProducer = null;
        _effective.StreamingCallback = null;
        _effective.AsyncStreamingCallback = null;
        _effective.BodyWriter = null;
        _effective.HeaderCallback = null;
        _effective.PrepareCurlCallback = null;
        _effective.SslOptions = null;
        _effective.AuthPassword = null;
        _effective.ProxyPassword = null;
        _effective.HeadersOrNull?.Clear();
    }

    public void AddQueueTime(double seconds) => Times.Add(FetchTimes.Queue, TimeSpan.FromSeconds(Math.Max(0, seconds)));

    /// <summary>A hop starts (holding its slot): later phases are measured from now. Returns the reading of the clock it took.</summary>
    public long StartHop()
    {
        long now = Stopwatch.GetTimestamp();
        if (_hops++ > 0)
        {
            // A redirect: the hop before it counts as redirect time.
            Times.Add(FetchTimes.Redirect, Stopwatch.GetElapsedTime(_hopStartTimestamp, now));
            Times.ClearHop();
        }

        _hopStartTimestamp = now;
        return now;
    }

    /// <summary>
    /// Says that the fetch goes on straight from its call (<see cref="StartHopAtCall"/>): the call
    /// was made on the loop thread, and nothing but this client's code runs before the hop starts.
    /// </summary>
    public void RunsFromCall() => _runsFromCall = true;

    /// <summary>
    /// <see cref="StartHop"/> for the first hop of a fetch that goes on straight from its call
    /// (<see cref="RunsFromCall"/>), which starts when the call did: no second reading of the
    /// clock. Otherwise as <see cref="StartHop"/>.
    /// </summary>
    public long StartHopAtCall()
    {
        if (_runsFromCall && _hops == 0)
        {
            _runsFromCall = false;
            _hops = 1;
            return _hopStartTimestamp;
        }

        return StartHop();
    }

    /// <summary>Records <paramref name="phase"/> as reached now; returns the reading of the clock it took.</summary>
    public long Mark(int phase)
    {
        long now = Stopwatch.GetTimestamp();
        MarkAt(phase, now);
        return now;
    }

    /// <summary>Records <paramref name="phase"/> as reached at <paramref name="timestamp"/>, a reading taken for something that happened at the same point.</summary>
    public void MarkAt(int phase, long timestamp) => Times.Set(phase, Stopwatch.GetElapsedTime(_hopStartTimestamp, timestamp));

    /// <summary>
    /// Records <paramref name="phase"/> as reached when <paramref name="reached"/> was: the two
    /// are one point of the exchange (curl's <c>pretransfer</c> is its <c>connect</c> when
    /// nothing but this client's own code runs between them).
    /// </summary>
    public void MarkAsReached(int phase, int reached)
    {
        Debug.Assert(Times.Has(reached), "The phase marked first belongs to this hop.");
        Times.Set(phase, Times.Get(reached));
    }

    /// <summary>Time since the call, less the time spent queued.</summary>
    public TimeSpan Elapsed() => ElapsedAt(Stopwatch.GetTimestamp());

    /// <summary><see cref="Elapsed"/> as at <paramref name="timestamp"/>, a reading already taken.</summary>
    public TimeSpan ElapsedAt(long timestamp) => Stopwatch.GetElapsedTime(_startTimestamp, timestamp) - QueueTime;

    /// <summary>Whether a <c>FetchValueAsync</c> caller waits on this state (rather than on <see cref="Completion"/>'s task).</summary>
    public bool HasValueCaller => _valueOwner is not null;

    /// <summary>Makes this state the source of the caller's value task; <paramref name="owner"/> takes it back once the outcome is taken.</summary>
    public ValueTask<HttpResponse> BindValueCaller(AsyncHttpClient owner)
    {
        _valueOwner = owner;
        return new ValueTask<HttpResponse>(this, _valueSource.Version);
    }

    /// <summary>As <see cref="BindValueCaller"/>, for a caller that takes an <see cref="HttpResult"/> (and never the response object).</summary>
    public ValueTask<HttpResult> BindResultCaller(AsyncHttpClient owner)
    {
        _valueOwner = owner;
        _resultCaller = true;
        return new ValueTask<HttpResult>(this, _valueSource.Version);
    }

    /// <summary>
    /// Whether the final response of this fetch may be written into the state's own response
    /// object (<see cref="ReuseResponse"/>): the caller takes an <see cref="HttpResult"/>, nobody
    /// observes the fetch (a listener is handed the response), the code is 2xx (a non-2xx
    /// response is referred to by its error, which the caller gets) and the body is not pooled.
    /// </summary>
    public bool CanReuseResponse(int code, in Body.ResponseBody body) =>
        _resultCaller && !Observed && code is >= 200 and < 300 && body.Pool is null;

    /// <summary>The final response, written into the response object this state keeps (see <see cref="CanReuseResponse"/>).</summary>
    public HttpResponse ReuseResponse(int code, string reason, KeyValuePair<string, string>[] sharedHeaders, in Body.ResponseBody body, string effectiveUrl, TimeSpan requestTime)
    {
        byte[] array = body.Array ?? [];
        if (_reused is null)
        {
            _reused = new HttpResponse(Original, code, reason, sharedHeaders, body, effectiveUrl, requestTime: requestTime, startTime: StartTime, timeInfo: Times);
        }
        else
        {
            _reused.Refill(Original, code, reason, sharedHeaders, array, effectiveUrl, requestTime, StartTime, Times);
        }

        return _reused;
    }

    /// <summary>Completes the caller's value task (its continuation runs inline, on the loop thread).</summary>
    public void SetValueOutcome(HttpResponse? response, Exception? failure)
    {
        if (failure is null)
        {
            _valueSource.SetResult(response!);
        }
        else
        {
            _valueSource.SetException(failure);
        }
    }

    /// <inheritdoc/>
    HttpResponse IValueTaskSource<HttpResponse>.GetResult(short token) => TakeOutcome(token, asResult: false).Response!;

    /// <inheritdoc/>
    HttpResult IValueTaskSource<HttpResult>.GetResult(short token) => TakeOutcome(token, asResult: true).Result;

    /// <summary>
    /// The caller's outcome (the response, or as a result the copy of it, made before the state
    /// can serve another fetch); the state goes back to its client.
    /// </summary>
    private (HttpResponse? Response, HttpResult Result) TakeOutcome(short token, bool asResult)
    {
        if (token != _valueSource.Version || _valueSource.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            // Awaited twice, or read before it completed: what ValueTask forbids. The state is
            // left alone (it may be another fetch's by now).
            throw new InvalidOperationException("The ValueTask of a fetch was awaited more than once, or its result was read before it completed.");
        }

        try
        {
            HttpResponse response = _valueSource.GetResult(token);
            if (!asResult)
            {
                return (response, default);
            }

            var result = new HttpResult(response);
            if (ReferenceEquals(response, _reused))
            {
                _reused.Forget();
            }

            return (null, result);
        }
        finally
        {
            AsyncHttpClient owner = _valueOwner!;
            _valueOwner = null;
            _valueSource.Reset();
            owner.ReturnValueState(this);
        }
    }

    /// <inheritdoc/>
    ValueTaskSourceStatus IValueTaskSource<HttpResponse>.GetStatus(short token) => _valueSource.GetStatus(token);

    /// <inheritdoc/>
    ValueTaskSourceStatus IValueTaskSource<HttpResult>.GetStatus(short token) => _valueSource.GetStatus(token);

    /// <inheritdoc/>
    void IValueTaskSource<HttpResponse>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        OnCompleted(continuation, state, token, flags);

    /// <inheritdoc/>
    void IValueTaskSource<HttpResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        OnCompleted(continuation, state, token, flags);

    private void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0
            && _valueOwner is { } owner
            && SynchronizationContext.Current == owner.Loop.SynchronizationContext
            && TaskScheduler.Current == TaskScheduler.Default)
        {
            // Awaited under the loop's own context: the fetch completes on the loop thread, where
            // the continuation may run inline. (The core would post it to the context, allocating
            // for each await, and run it one loop turn late.)
            flags &= ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext;
        }

        _valueSource.OnCompleted(continuation, state, token, flags);
    }
}
