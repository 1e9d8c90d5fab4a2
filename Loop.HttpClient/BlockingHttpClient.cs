namespace Loop.Http;

/// <summary>
/// A blocking HTTP client (Tornado's <c>HTTPClient</c>), for scripts and tests: each
/// <see cref="Fetch(HttpRequest, bool)"/> runs a private <see cref="IOLoop"/> on the calling thread
/// until the response is complete. Not for use on a thread that is running a loop: that loop
/// would stall, so it is refused.
/// </summary>
public sealed class BlockingHttpClient : IDisposable, IAsyncDisposable
{
    private readonly IOLoop _loop;
    private readonly AsyncHttpClient _client;
    private bool _closed;

    /// <summary>Creates the client with its own loop and an instance of the configured implementation.</summary>
    /// <param name="settings">Settings over the configured ones (see <see cref="AsyncHttpClient.Configure{T}"/>).</param>
    public BlockingHttpClient(AsyncHttpClientSettings? settings = null)
    {
        _loop = new IOLoop();
        _client = AsyncHttpClient.Create(_loop, forceInstance: true, settings);
    }

    /// <summary>Fetches <paramref name="url"/> with a GET.</summary>
    /// <inheritdoc cref="Fetch(HttpRequest, bool)"/>
    public HttpResponse Fetch(string url, bool raiseError = true) => Fetch(new HttpRequest(url), raiseError);

    /// <summary>
    /// Fetches <paramref name="request"/> and returns the response, blocking the calling thread.
    /// With <paramref name="raiseError"/> a non-2xx response or a failure throws
    /// <see cref="HttpClientError"/>; without it the response is returned (code 599 when none arrived).
    /// A response to a request with <see cref="HttpFetchOptions.PooledBody"/> owns pooled memory as
    /// from the async client: dispose it when done with its body (on any thread, before or after the
    /// client is closed). A <see cref="HttpFetchOptions.BodyWriter"/> is written on this thread,
    /// during the call.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called on a thread that is running an IOLoop.</exception>
    /// <exception cref="ObjectDisposedException">The client was closed.</exception>
    public HttpResponse Fetch(HttpRequest request, bool raiseError = true)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (IOLoop.TryGetCurrent(out IOLoop? current) && current.IsRunning && current.IsOnLoopThread)
        {
            throw new InvalidOperationException("BlockingHttpClient.Fetch was called on a thread that runs an IOLoop; it would block that loop. Use AsyncHttpClient.FetchAsync there.");
        }

        return _loop.RunSync(() => _client.FetchAsync(request, raiseError));
    }

    /// <summary>Closes the client and its loop, freeing every connection.</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _client.Close();
        _loop.Close(allFds: true);
    }

    /// <summary>Closes the client and its loop, as <see cref="Dispose"/> does (nothing here waits).</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    /// <summary>Closes the client (<see cref="Close"/>).</summary>
    public void Dispose() => Close();
}
