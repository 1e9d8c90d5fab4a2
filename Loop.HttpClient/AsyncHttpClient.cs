using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Loop.Http;

/// <summary>
/// A non-blocking HTTP client on an <see cref="IOLoop"/> (Tornado's <c>AsyncHTTPClient</c>).
/// <see cref="Create"/> gives the implementation chosen with <see cref="Configure{T}"/>
/// (<see cref="SimpleAsyncHttpClient"/> unless configured otherwise), one instance per loop
/// unless <c>forceInstance</c> is set. At most <see cref="MaxClients"/> requests run at once;
/// the others wait in FIFO order, and the wait counts against their timeouts.
/// </summary>
/// <remarks>
/// Requests run on the client's loop. <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>
/// may be called from any thread: from another one, the fetch is handed to the loop and the task
/// completes off it. <see cref="Close"/> frees every connection, timer and handler the client holds.
/// </remarks>
public abstract partial class AsyncHttpClient : IDisposable, IAsyncDisposable
{
#if NET9_0_OR_GREATER
    private static readonly Lock s_configLock = new();
#else
    private static readonly object s_configLock = new();
#endif
    private static readonly ConditionalWeakTable<IOLoop, AsyncHttpClient> s_instances = [];

    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)]
    private static Type s_implementation = typeof(SimpleAsyncHttpClient);
    private static AsyncHttpClientSettings? s_configured;

    private static readonly HttpHeaders s_noHeaders = [];

    // Fetch states of ended fetches, for reuse (loop thread only).
    private const int FetchPoolLimit = 1024;
    private readonly Stack<FetchState> _fetchPool = new();

    /// <summary>The fetch states waiting for reuse (for tests).</summary>
    internal IEnumerable<FetchState> PooledFetchStates => _fetchPool;

    private readonly LinkedList<QueuedFetch> _queue = new();
    private readonly bool _cached;
    private int _active;
    private bool _closed;

    // Set when Close hands the closing to the running loop from another thread (DisposeAsync waits for it).
    private TaskCompletionSource? _closedOnLoop;

    /// <summary>Creates a client on <paramref name="loop"/>; implementations are made by <see cref="Create"/> and need this constructor's shape.</summary>
    protected AsyncHttpClient(IOLoop loop, AsyncHttpClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(settings);
        Loop = loop;
        Settings = settings;
        MaxClients = settings.MaxClients ?? AsyncHttpClientSettings.DefaultMaxClients;
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxClients, 1, nameof(settings));
        BodyPool = new Body.BodyMemoryPool(MaxClients);
        Logger = loop.LoggerFactory.CreateLogger("Loop.Http.AsyncHttpClient");
        _cached = t_creatingCached;
    }

    /// <summary>The implementation <see cref="Create"/> makes.</summary>
    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)]
    public static Type ConfiguredType
    {
        get
        {
            lock (s_configLock)
            {
                return s_implementation;
            }
        }
    }

    /// <summary>The loop the client runs on.</summary>
    public IOLoop Loop { get; }

    /// <summary>What the client was built with (configured settings merged with those given to <see cref="Create"/>).</summary>
    public AsyncHttpClientSettings Settings { get; }

    /// <summary>The most requests in flight at once.</summary>
    public int MaxClients { get; }

    /// <summary>Values for the options a request leaves unset.</summary>
    public HttpFetchOptions? Defaults => Settings.Defaults;

    /// <summary>Requests holding a slot now (connecting, sending or receiving).</summary>
    public int ActiveCount => _active;

    /// <summary>Requests waiting for a slot.</summary>
    public int QueuedCount => _queue.Count;

    /// <summary>Whether <see cref="Close"/> was called.</summary>
    public bool IsClosed => _closed;

    /// <summary>
    /// Where <see cref="HttpFetchOptions.PooledBody"/> bodies rent their memory: the client's own
    /// <see cref="Body.BodyMemoryPool"/>; tests put a counting pool here, before the first fetch.
    /// </summary>
    internal ArrayPool<byte> BodyPool { get; set; }

    /// <summary>The client's logger (category <c>Loop.Http.AsyncHttpClient</c>).</summary>
    protected ILogger Logger { get; }

    [ThreadStatic]
    private static bool t_creatingCached;

    /// <summary>
    /// Chooses the implementation <see cref="Create"/> makes, and settings for every instance made
    /// after this (those given to <see cref="Create"/> win over these). Instances already made are
    /// not changed.
    /// </summary>
    /// <typeparam name="T">A subclass with a public <c>(IOLoop, AsyncHttpClientSettings)</c> constructor.</typeparam>
    public static void Configure<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(AsyncHttpClientSettings? settings = null)
        where T : AsyncHttpClient => Configure(typeof(T), settings);

    /// <summary>As <see cref="Configure{T}"/>, with the implementation given as a type (null: <see cref="SimpleAsyncHttpClient"/>).</summary>
    public static void Configure([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] Type? implementation, AsyncHttpClientSettings? settings = null)
    {
        implementation ??= typeof(SimpleAsyncHttpClient);
        if (!implementation.IsSubclassOf(typeof(AsyncHttpClient)) || implementation.IsAbstract)
        {
            throw new ArgumentException($"{implementation} is not a concrete subclass of {nameof(AsyncHttpClient)}.", nameof(implementation));
        }

        if (implementation.GetConstructor([typeof(IOLoop), typeof(AsyncHttpClientSettings)]) is null)
        {
            throw new ArgumentException($"{implementation} has no public ({nameof(IOLoop)}, {nameof(AsyncHttpClientSettings)}) constructor.", nameof(implementation));
        }

        lock (s_configLock)
        {
            s_implementation = implementation;
            s_configured = settings;
        }
    }

    /// <summary>
    /// As <see cref="Configure{T}"/>, with the implementation named by its assembly-qualified type
    /// name (Tornado's <c>configure("tornado.curl_httpclient.CurlAsyncHTTPClient")</c>), for
    /// example <c>"Loop.Curl.CurlAsyncHttpClient, Loop.Curl"</c>; null for the simple client.
    /// </summary>
    /// <exception cref="ArgumentException">No such type, or not an implementation.</exception>
    [RequiresUnreferencedCode("The type is looked up by name; trimming may have removed it or its constructor.")]
    public static void Configure(string? typeName, AsyncHttpClientSettings? settings = null)
    {
        Type? type = typeName is null ? typeof(SimpleAsyncHttpClient) : Type.GetType(typeName, throwOnError: false);
        if (type is null)
        {
            throw new ArgumentException($"No type named '{typeName}' could be loaded.", nameof(typeName));
        }

        Configure(type, settings);
    }

    /// <summary>
    /// The client for <paramref name="loop"/> (the current loop when null): the same instance each
    /// time for one loop, made on first use with the configured settings, unless
    /// <paramref name="forceInstance"/>, which makes a new one with <paramref name="settings"/>
    /// over the configured ones. Settings given for a cached instance that already exists are ignored,
    /// as Tornado does; prefer <see cref="Configure{T}"/>.
    /// </summary>
    public static AsyncHttpClient Create(IOLoop? loop = null, bool forceInstance = false, AsyncHttpClientSettings? settings = null)
    {
        loop ??= IOLoop.Current;
        Type type;
        AsyncHttpClientSettings effective;
        lock (s_configLock)
        {
            type = s_implementation;
            effective = (settings ?? new AsyncHttpClientSettings()).Over(s_configured);
            if (!forceInstance && s_instances.TryGetValue(loop, out AsyncHttpClient? cached) && !cached._closed)
            {
                return cached;
            }
        }

        AsyncHttpClient client = Instantiate(type, loop, effective, cache: !forceInstance);
        if (forceInstance)
        {
            return client;
        }

        lock (s_configLock)
        {
            if (s_instances.TryGetValue(loop, out AsyncHttpClient? raced) && !raced._closed)
            {
                client.Close();
                return raced;
            }

            s_instances.AddOrUpdate(loop, client);
        }

        return client;
    }

    /// <summary>
    /// Frees every connection, timer and handler. Queued and running fetches end at once, in
    /// whatever phase they are (connecting, in the TLS handshake, sending, waiting for the
    /// response, inside the caller's body producer or async streaming callback): with an
    /// <see cref="HttpClientError"/> (599) around an <see cref="ObjectDisposedException"/>, or a
    /// 599 response carrying it without <c>raiseError</c>; a task of the caller's that a fetch was
    /// waiting for is not waited for any more. Later fetches throw
    /// <see cref="ObjectDisposedException"/>. The per-loop instance is forgotten, so
    /// <see cref="Create"/> makes a new one. Thread-safe (from another thread the fetches end on
    /// the loop, soon after); calling it again does nothing.
    /// </summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        if (_cached)
        {
            lock (s_configLock)
            {
                if (s_instances.TryGetValue(Loop, out AsyncHttpClient? cached) && ReferenceEquals(cached, this))
                {
                    s_instances.Remove(Loop);
                }
            }
        }

        if (Loop.IsOnLoopThread || !Loop.IsRunning)
        {
            CloseOnLoop();
        }
        else
        {
            _closedOnLoop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Loop.AddCallback(CloseOnLoop);
        }
    }

    /// <summary>
    /// Closes the client (<see cref="Close"/>) and, when called off the loop thread while the loop
    /// runs, waits until the loop has freed the client's connections, timers and handlers.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Close();
        GC.SuppressFinalize(this);
        if (_closedOnLoop is { } closing && !Loop.IsClosed)
        {
            await closing.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Closes the client (<see cref="Close"/>).</summary>
    public void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Runs one fetch to its end, redirects included, and returns the final response (a non-2xx
    /// one too: the base class turns it into an error when asked). Failures before a response
    /// throw; anything that is not an <see cref="HttpClientError"/> becomes a 599 one.
    /// </summary>
    private protected abstract ValueTask<HttpResponse> FetchCoreAsync(FetchState fetch);

    /// <summary>Frees the implementation's connections and handles (on the loop thread, after queued fetches failed).</summary>
    private protected abstract void CloseCore();

    /// <summary>Checks what only this implementation refuses (an auth mode it lacks); the base class has checked the rest.</summary>
    private protected virtual void ValidateForImplementation(HttpRequest request)
    {
    }

    /// <summary>
    /// Waits for a slot among <see cref="MaxClients"/>; fails with "Timeout in request queue" at
    /// the queue deadline (the connect or request timeout, whichever is sooner, from the start of
    /// the fetch) and with <see cref="OperationCanceledException"/> on cancellation.
    /// </summary>
    private protected ValueTask AcquireSlotAsync(FetchState fetch)
    {
        if (_closed)
        {
            throw new ObjectDisposedException(GetType().Name);
        }

        if (TryTakeSlot())
        {
            return ValueTask.CompletedTask;
        }

        var queued = new QueuedFetch(this, fetch);
        queued.Node = _queue.AddLast(queued);
        double deadline = fetch.QueueDeadline;
        if (!double.IsPositiveInfinity(deadline))
        {
            queued.Timer = Loop.CallAt(deadline, static state => ((QueuedFetch)state!).Fail(new HttpTimeoutError(HttpTimeoutPhase.Queue)), queued);
        }

        if (fetch.CancellationToken.CanBeCanceled)
        {
            queued.Registration = fetch.CancellationToken.UnsafeRegister(
                static state => ((QueuedFetch)state!).Owner.Loop.AddCallback(static s => ((QueuedFetch)s!).Fail(new OperationCanceledException(((QueuedFetch)s!).Fetch.CancellationToken)), state),
                queued);
        }

        return new ValueTask(queued.Completion.Task);
    }

    /// <summary>Takes a slot among <see cref="MaxClients"/> when one is free and no fetch waits for one; the caller gives it back with <see cref="ReleaseSlot"/>.</summary>
    private protected bool TryTakeSlot()
    {
        if (_closed || _active >= MaxClients || _queue.Count != 0)
        {
            return false;
        }

        _active++;
        return true;
    }

    /// <summary>Gives the slot back and hands it to the first queued fetch, if any.</summary>
    private protected void ReleaseSlot()
    {
        _active--;
        while (_active < MaxClients && _queue.First is { } first && !_closed)
        {
            _active++;
            first.Value.Grant();
        }
    }

    private static AsyncHttpClient Instantiate([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] Type type, IOLoop loop, AsyncHttpClientSettings settings, bool cache)
    {
        t_creatingCached = cache;
        try
        {
            return (AsyncHttpClient)Activator.CreateInstance(type, loop, settings)!;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        finally
        {
            t_creatingCached = false;
        }
    }

    /// <summary>Whether <paramref name="mode"/> is one of <see cref="HttpAuthMode"/>'s values.</summary>
    private static bool IsKnown(HttpAuthMode mode) => mode is HttpAuthMode.Basic or HttpAuthMode.Digest;

    /// <summary>
    /// Whether <paramref name="method"/> is the very string of a standard method's literal (as a
    /// request made from a URL, or with a method written in the code, carries): a token and a
    /// standard method, so neither needs checking.
    /// </summary>
    private static bool IsStandardMethodLiteral(string method) =>
        ReferenceEquals(method, "GET") || ReferenceEquals(method, "POST") || ReferenceEquals(method, "HEAD") || ReferenceEquals(method, "PUT")
        || ReferenceEquals(method, "DELETE") || ReferenceEquals(method, "PATCH") || ReferenceEquals(method, "OPTIONS");

    private void Validate(HttpRequest request)
    {
        HttpSyntax.CheckNoLineBreak(request.Url, "URL");
        bool nonstandard = request.AllowNonstandardMethods == true;
        if (!IsStandardMethodLiteral(request.Method))
        {
            if (request.Method.Length == 0 || !HttpSyntax.IsToken(request.Method))
            {
                throw new ArgumentException($"Invalid method '{request.Method}'.", nameof(request));
            }

            if (!nonstandard && !HttpRequest.StandardMethods.Contains(request.Method))
            {
                throw new ArgumentException($"Unknown method '{request.Method}' (set AllowNonstandardMethods to send it).", nameof(request));
            }
        }

        foreach (KeyValuePair<string, string> field in request.HeadersOrNull ?? s_noHeaders)
        {
            if (!HttpSyntax.IsToken(field.Key))
            {
                HttpSyntax.CheckNoLineBreak(field.Key, "header name");
                throw new ArgumentException($"Invalid header name '{field.Key}'.", nameof(request));
            }

            HttpSyntax.CheckNoLineBreak(field.Value, $"the value of header '{field.Key}'");
        }

        HttpSyntax.CheckFraming(request);

        if (request.StreamingCallback is not null && request.AsyncStreamingCallback is not null)
        {
            throw new ArgumentException("StreamingCallback and AsyncStreamingCallback cannot both be set.", nameof(request));
        }

        if (request.BodyWriter is not null && (request.StreamingCallback is not null || request.AsyncStreamingCallback is not null))
        {
            throw new ArgumentException("BodyWriter cannot be set together with StreamingCallback or AsyncStreamingCallback: the body goes to one of them.", nameof(request));
        }

        if (request.Body is not null && request.BodyProducer is not null)
        {
            throw new ArgumentException("Body and BodyProducer cannot both be set.", nameof(request));
        }

        if (!nonstandard)
        {
            bool expected = request.Method is "POST" or "PATCH" or "PUT";
            bool present = request.Body is not null || request.BodyProducer is not null;
            if (expected != present)
            {
                throw new ArgumentException($"Body must {(expected ? "not " : string.Empty)}be null for method {request.Method} (unless AllowNonstandardMethods is true).", nameof(request));
            }
        }

        if (request.UserAgent is { } agent)
        {
            HttpSyntax.CheckNoLineBreak(agent, "UserAgent");
        }

        // Not Enum.IsDefined: it reads the enum's names from the type's runtime cache, which the
        // runtime holds weakly, so after each garbage collection a request made it again (240 B).
        if (!IsKnown(request.AuthMode!.Value) || !IsKnown(request.ProxyAuthMode!.Value))
        {
            throw new ArgumentException($"Unknown auth mode {(IsKnown(request.AuthMode!.Value) ? request.ProxyAuthMode : request.AuthMode)}.", nameof(request));
        }

        if (request.ProxyHost is { } proxy)
        {
            HttpSyntax.CheckNoLineBreak(proxy, "ProxyHost");
            if (request.ProxyPort is < 1 or > 65535)
            {
                throw new ArgumentException($"Invalid ProxyPort {request.ProxyPort}.", nameof(request));
            }
        }

        ValidateForImplementation(request);
    }

    private void CloseOnLoop()
    {
        try
        {
            while (_queue.First is { } first)
            {
                first.Value.Fail(new ObjectDisposedException(GetType().Name, "The client was closed."));
            }

            CloseCore();
        }
        finally
        {
            _closedOnLoop?.TrySetResult();
        }
    }

    /// <summary>A fetch waiting for a slot.</summary>
    private sealed class QueuedFetch(AsyncHttpClient owner, FetchState fetch)
    {
        public readonly AsyncHttpClient Owner = owner;
        public readonly FetchState Fetch = fetch;
        public readonly TaskCompletionSource Completion = new();
        public LinkedListNode<QueuedFetch>? Node;
        public TimeoutHandle Timer;
        public CancellationTokenRegistration Registration;
        private readonly double _queuedAt = owner.Loop.Time();

        public void Grant()
        {
            Leave();
            Completion.TrySetResult();
        }

        public void Fail(Exception error)
        {
            if (Node is null)
            {
                return;
            }

            Leave();
            Completion.TrySetException(error);
        }

        private void Leave()
        {
            if (Node is not null)
            {
                Owner._queue.Remove(Node);
                Node = null;
            }

            Owner.Loop.RemoveTimeout(Timer);
            Registration.Dispose();
            Fetch.AddQueueTime(Owner.Loop.Time() - _queuedAt);
        }
    }
}
