using Loop.Curl;
using Loop.Http.Internal;

namespace Loop.Http;

/// <summary>
/// An <see cref="HttpMessageHandler"/> that runs <see cref="HttpClient"/>'s requests on a Loop
/// <see cref="AsyncHttpClient"/> (<see cref="SimpleAsyncHttpClient"/> or
/// <see cref="CurlAsyncHttpClient"/>), on that client's <see cref="IOLoop"/>:
/// <c>new HttpClient(new LoopHttpMessageHandler())</c>, or <c>AddHttpClient("x").UseLoop()</c>.
/// </summary>
/// <remarks>
/// <para>Threads: <see cref="HttpClient.SendAsync(HttpRequestMessage, CancellationToken)"/> may be
/// called from any thread, by many at once. Each request is handed to the client (its
/// <c>FetchAsync</c> is thread-safe) and runs on the loop's thread; the caller's continuations
/// and reads never run there (unless the caller itself is on the loop's thread, whose
/// synchronization context then resumes it there).</para>
/// <para>The response comes back as soon as its head has arrived; its content is a stream fed
/// from the loop with backpressure: at most <see cref="LoopHttpMessageHandlerOptions.ResponseBufferSize"/>
/// bytes (plus one received piece) wait for the reader, and past that the loop stops reading the
/// socket. Disposing the response (or its content) before the body's end aborts the transfer;
/// its connection is not reused. Request content is serialized on the thread pool and sent as it
/// comes (with its Content-Length when the content knows it, chunked otherwise), never buffered whole.</para>
/// <para>Failures: <see cref="HttpRequestException"/> with an <see cref="HttpRequestError"/>
/// (<see cref="HttpRequestError.ConnectionError"/>, <see cref="HttpRequestError.NameResolutionError"/>,
/// <see cref="HttpRequestError.SecureConnectionError"/>, <see cref="HttpRequestError.InvalidResponse"/>,
/// <see cref="HttpRequestError.ResponseEnded"/>, <see cref="HttpRequestError.ConfigurationLimitExceeded"/>,
/// <see cref="HttpRequestError.Unknown"/>) and the Loop client's <see cref="HttpClientError"/> as
/// its <see cref="Exception.InnerException"/>; after the head, reads of the content throw
/// <see cref="HttpIOException"/> the same way. Cancellation (the token, <see cref="HttpClient.Timeout"/>)
/// aborts the transfer, before the head or while the body streams, and surfaces as
/// <see cref="TaskCanceledException"/> (which <see cref="HttpClient"/> turns into one around a
/// <see cref="TimeoutException"/> for its Timeout). A non-2xx status is a response, not an error.</para>
/// </remarks>
public sealed class LoopHttpMessageHandler : HttpMessageHandler
{
    private readonly LoopHttpMessageHandlerOptions _options;
    private readonly LoopHttpTransport? _ownedTransport;
    private readonly bool _disposeClient;
    private int _disposed;

    /// <summary>A handler on a loop of its own (a <see cref="LoopHttpTransport"/> with the simple client), which <see cref="HttpMessageHandler.Dispose()"/> stops.</summary>
    public LoopHttpMessageHandler()
        : this(new LoopHttpMessageHandlerOptions())
    {
    }

    /// <summary>
    /// A handler on a loop of its own: a <see cref="LoopHttpTransport"/> with the client that
    /// <paramref name="options"/> choose, started now on a background thread named <c>Loop.Http</c>
    /// and stopped (the thread joined) by <see cref="HttpMessageHandler.Dispose()"/>.
    /// </summary>
    /// <exception cref="CurlUnavailableException">The curl client was asked for and libcurl cannot be loaded.</exception>
    public LoopHttpMessageHandler(LoopHttpMessageHandlerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options with { };
        _ownedTransport = new LoopHttpTransport(_options);
        Client = _ownedTransport.Client;
    }

    /// <summary>
    /// A handler on a shared <paramref name="transport"/>, which it never disposes (its owner
    /// does, after the handlers that use it: a request still running then fails).
    /// </summary>
    /// <param name="transport">The loop and client to run on.</param>
    /// <param name="options">How requests are made; the transport's own client settings are what they are. Null for the defaults.</param>
    public LoopHttpMessageHandler(LoopHttpTransport transport, LoopHttpMessageHandlerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _options = options is null ? new LoopHttpMessageHandlerOptions() : options with { };
        Client = transport.Client;
    }

    /// <summary>
    /// A handler on <paramref name="client"/>, whose loop the caller runs (on a thread of its
    /// own, or ticked by a host: requests make progress only while it runs).
    /// </summary>
    /// <param name="client">The client to fetch with. Its <see cref="AsyncHttpClientSettings.MaxBodySize"/> (100 MiB unless set) bounds response bodies here too.</param>
    /// <param name="options">How requests are made (the transport options in it are ignored). Null for the defaults.</param>
    /// <param name="disposeClient">Close the client when the handler is disposed; false by default (the caller's client outlives the handler).</param>
    public LoopHttpMessageHandler(AsyncHttpClient client, LoopHttpMessageHandlerOptions? options = null, bool disposeClient = false)
    {
        ArgumentNullException.ThrowIfNull(client);
        _options = options is null ? new LoopHttpMessageHandlerOptions() : options with { };
        Client = client;
        _disposeClient = disposeClient;
    }

    /// <summary>The client the requests run on.</summary>
    public AsyncHttpClient Client { get; }

    /// <summary>A copy of the options the handler was made with.</summary>
    public LoopHttpMessageHandlerOptions Options => _options with { };

    /// <summary>The transport the handler made for itself, if it did (for tests).</summary>
    internal LoopHttpTransport? OwnedTransport => _ownedTransport;

    /// <summary>
    /// Sends <paramref name="request"/> on the loop; the task completes, off the loop's thread,
    /// when the response head has arrived. Thread-safe.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handler was disposed, or its client closed.</exception>
    /// <exception cref="InvalidOperationException">The request has no absolute URI.</exception>
    /// <exception cref="NotSupportedException">The URI's scheme is not http or https.</exception>
    /// <exception cref="HttpRequestException">The request failed before the head arrived (in the task), or cannot be sent as it is (a header with CR or LF, or one the client refuses; an HTTP version the client cannot speak).</exception>
    /// <exception cref="TaskCanceledException">The token was canceled, or a timeout of the handler's own elapsed (in the task).</exception>
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (request.RequestUri is not { IsAbsoluteUri: true } uri)
        {
            throw new InvalidOperationException("The request has no absolute RequestUri (set HttpClient.BaseAddress, or give an absolute URI).");
        }

        if (uri.Scheme is not ("http" or "https"))
        {
            throw new NotSupportedException($"The '{uri.Scheme}' scheme is not supported: the Loop clients fetch http and https.");
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<HttpResponseMessage>(cancellationToken);
        }

        return new LoopExchange(Client, _options, request, cancellationToken).Start();
    }

    /// <summary>
    /// As <see cref="SendAsync"/>, blocking the calling thread until the head has arrived (for
    /// <see cref="HttpClient.Send(HttpRequestMessage)"/>). Never on the loop's own thread.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called on the loop's thread, which would wait for itself.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Client.Loop.IsOnLoopThread)
        {
            throw new InvalidOperationException("A synchronous Send on the loop's own thread would wait for itself: use SendAsync.");
        }

        return SendAsync(request, cancellationToken).GetAwaiter().GetResult(); // HttpClient.Send is blocking by design; never on the loop thread (checked above).
    }

    /// <summary>
    /// Disposes the handler: a loop it made for itself is stopped (its client closed, so requests
    /// still running fail, and its thread joined unless this is that thread); a client given with
    /// <c>disposeClient</c> is closed; a shared transport or a caller's client is left running.
    /// Later sends throw <see cref="ObjectDisposedException"/>. Calling it again does nothing.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _ownedTransport?.Dispose();
            if (_disposeClient)
            {
                Client.Close();
            }
        }

        base.Dispose(disposing);
    }
}
