using System.Net.Security;
using System.Net.Sockets;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Loop.Http.Internal;
using Loop.Http.Simple;

namespace Loop.Http;

/// <summary>
/// The HTTP/1.1 client written on <see cref="IOStream"/> (Tornado's <c>SimpleAsyncHTTPClient</c>),
/// the default implementation of <see cref="AsyncHttpClient"/>. Unlike Tornado's it keeps
/// connections alive: an idle connection is pooled per origin and reused when the response
/// allowed it, and a request that fails on a reused connection before any response byte
/// arrived is retried once on a fresh one when its method is idempotent.
/// </summary>
/// <remarks>
/// Supports basic authentication only (<see cref="HttpAuthMode.Digest"/> is refused at the call);
/// <see cref="HttpFetchOptions.PrepareCurlCallback"/> is ignored.
/// </remarks>
public sealed class SimpleAsyncHttpClient : AsyncHttpClient
{
    /// <summary>The <c>User-Agent</c> sent when neither the request nor the defaults name one.</summary>
    public const string DefaultUserAgent = "Loop/1.0";

    /// <summary>The proxy port used when <see cref="HttpFetchOptions.ProxyPort"/> is not set (libcurl's default).</summary>
    public const int DefaultProxyPort = 1080;

    private readonly TcpConnector _connector;
    private readonly ConnectionPool _pool;
    // Connections running an exchange, linked through their Running* fields (see Close).
    private Http1Connection? _running;

    // Cancelled by Close: ends the connects under way (which have no connection in _running yet).
    private readonly CancellationTokenSource _closing = new();

    /// <summary>The last request line and client fields encoded, shared by the connections.</summary>
    internal RequestHeadPrefix HeadPrefix { get; } = new();

    /// <summary>The response fields last parsed, shared by the connections' heads.</summary>
    internal ResponseHead.FieldMemory ResponseFields { get; } = new();

    /// <summary>Creates a client; prefer <see cref="AsyncHttpClient.Create"/>, which keeps one per loop.</summary>
    public SimpleAsyncHttpClient(IOLoop loop, AsyncHttpClientSettings settings)
        : base(loop, settings)
    {
        IResolver resolver = settings.Resolver ?? DefaultResolver.Instance;
        if (settings.HostnameMapping is { Count: > 0 } mapping)
        {
            resolver = new OverrideResolver(resolver, mapping);
        }

        _connector = new TcpConnector(resolver, loop);
        MaxBufferSize = settings.MaxBufferSize ?? IOStreamOptions.DefaultMaxBufferSize;
        MaxHeaderSize = settings.MaxHeaderSize ?? AsyncHttpClientSettings.DefaultMaxHeaderSize;
        MaxBodySize = settings.MaxBodySize ?? MaxBufferSize;
        StreamOptions = new IOStreamOptions { MaxBufferSize = MaxBufferSize };
        _pool = new ConnectionPool(
            loop,
            settings.IdleConnectionTimeout ?? AsyncHttpClientSettings.DefaultIdleConnectionTimeout,
            settings.MaxIdleConnectionsPerOrigin ?? MaxClients);
    }

    /// <summary>Idle keep-alive connections held now.</summary>
    public int IdleConnectionCount => _pool.IdleCount;

    internal int MaxBufferSize { get; }

    internal int MaxHeaderSize { get; }

    internal long MaxBodySize { get; }

    /// <summary>Body bytes received straight into the response's array rather than through a connection's read buffer (diagnostics and tests). Loop thread only.</summary>
    internal long InPlaceBodyBytes { get; set; }

    internal IOStreamOptions StreamOptions { get; }

    private protected override void ValidateForImplementation(HttpRequest request)
    {
        if (request.AuthMode != HttpAuthMode.Basic && (request.AuthUsername is not null || RequestUrl.Parse(request.Url)?.User is not null))
        {
            throw new ArgumentException($"Unsupported auth mode {request.AuthMode}: {nameof(SimpleAsyncHttpClient)} supports Basic only.", nameof(request));
        }

        if (request.HttpVersion is { } version && version != System.Net.HttpVersion.Version11)
        {
            throw new ArgumentException($"{nameof(SimpleAsyncHttpClient)} speaks HTTP/1.1 only, not {version}; the curl client speaks HTTP/2.", nameof(request));
        }

        if (request.ProxyHost is not null && request.ProxyUsername is not null && request.ProxyAuthMode != HttpAuthMode.Basic)
        {
            throw new ArgumentException($"Unsupported proxy auth mode {request.ProxyAuthMode}: {nameof(SimpleAsyncHttpClient)} supports Basic only.", nameof(request));
        }
    }

    /// <summary>
    /// The common fetch, without an async method: a slot free at once and a kept connection to
    /// the origin. The connection runs the exchange and ends it in <see cref="OnDirectExchangeEnded"/>;
    /// a fetch that needs a new connection, or waits for a slot, runs in <see cref="FetchCoreAsync"/>.
    /// </summary>
    private protected override bool TryStartDirect(FetchState fetch)
    {
        if (!TryTakeSlot())
        {
            return false;
        }

        Http1Connection? connection = _pool.Take(KeyFor(fetch.Request, fetch.Url));
        if (connection is null)
        {
            // No fetch waits (TryTakeSlot saw none), so this only gives the slot back.
            ReleaseSlot();
            return false;
        }

        // A kept connection is ready at once: the hop's start is its connect, and both are the
        // call's own reading of the clock when the fetch runs on straight from it.
        fetch.MarkAt(FetchTimes.Connect, fetch.StartHopAtCall());
        AddRunning(connection);
        connection.RunDirect(fetch);
        return true;
    }

    /// <summary>
    /// A direct fetch's exchange has ended (<see cref="TryStartDirect"/>), with
    /// <paramref name="outcome"/> or <paramref name="error"/>: as <see cref="RunHopsAsync"/> does
    /// after its exchange, the connection is kept or closed and the slot given back, and the fetch
    /// ends; a redirect, or a retry on a new connection, goes on in <see cref="RunHopsAsync"/>.
    /// Called by the connection where the exchange ends, on the loop thread.
    /// </summary>
    internal void OnDirectExchangeEnded(Http1Connection connection, FetchState fetch, Http1Connection.Outcome outcome, Exception? error)
    {
        if (error is null)
        {
            if (outcome.KeepAlive)
            {
                _pool.Return(connection);
            }
            else
            {
                connection.Discard();
            }

            RemoveRunning(connection);
            ReleaseSlot();
            if (outcome.Redirect is null)
            {
                EndDirect(fetch, outcome.Response!, null);
                return;
            }

            fetch.Request = outcome.Redirect;
            fetch.Url = outcome.RedirectUrl!;
            try
            {
                OnRedirect(fetch, fetch.RedirectCode, outcome.Redirect.Url);
            }
            catch (Exception e)
            {
                // A logger that threw, say: the fetch fails with it, as in RunHopsAsync.
                EndDirect(fetch, null, e);
                return;
            }

            EndWhenDone(fetch, RunHopsAsync(fetch, retry: false));
            return;
        }

        HttpRequest request = fetch.Request;
        bool retry = error is HttpStreamClosedError && !connection.ResponseStarted && IsIdempotent(request.Method) && request.BodyProducer is null;
        connection.Discard();
        RemoveRunning(connection);
        if (retry)
        {
            // The server dropped the kept connection as we used it: once more, on a new one,
            // in the slot this fetch still holds.
            EndWhenDone(fetch, RunHopsAsync(fetch, retry: true));
            return;
        }

        ReleaseSlot();
        EndDirect(fetch, null, error);
    }

    /// <inheritdoc cref="RunHopsAsync"/>
    private protected override ValueTask<HttpResponse> FetchCoreAsync(FetchState fetch) => RunHopsAsync(fetch, retry: false);

    /// <summary>
    /// Runs the fetch hop by hop (a redirect is a new hop): a slot among MaxClients, a pooled
    /// connection to the origin or a new one, the exchange on it. A request that fails on a
    /// reused connection before any response byte arrived is retried once on a new connection
    /// when it is idempotent and has no body producer (the server may have dropped it as we
    /// sent). One async method for the whole fetch: the exchange itself is the connection's
    /// state machine, awaited as a value task that completes on the loop thread. With
    /// <paramref name="retry"/> the fetch already holds a slot and its hop has begun, and a
    /// direct exchange on a kept connection failed so (see <see cref="OnDirectExchangeEnded"/>):
    /// it goes on with a new connection.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<HttpResponse> RunHopsAsync(FetchState fetch, bool retry)
    {
        while (true)
        {
            if (!retry)
            {
                // A queued slot is a Task: ConfigureAwait(false) on it would resume on the thread
                // pool (a Task does not run continuations inline under a SynchronizationContext);
                // the loop's context resumes it inline, on the loop.
                await AcquireSlotAsync(fetch).ConfigureAwait(true);
            }

            Http1Connection.Outcome outcome;
            try
            {
                HttpRequest request = fetch.Request;
                OriginKey origin = KeyFor(request, fetch.Url);
                Http1Connection? connection = null;
                if (!retry)
                {
                    fetch.StartHop();
                    connection = _pool.Take(origin);
                }

                bool reused = connection is not null;
                retry = false;
                while (true)
                {
                    if (connection is null)
                    {
                        // Completes on the loop thread, where it resumed from the connector.
                        IOStream stream = await ConnectAsync(fetch).ConfigureAwait(false);
                        Debug.Assert(Loop.IsOnLoopThread, "A connect completed off the loop thread.");
                        if (IsClosed)
                        {
                            // The connect ended just as the client closed, before its cancellation ran.
                            stream.Close();
                            throw ClientClosed();
                        }

                        connection = new Http1Connection(this, stream, origin, viaProxy: request.ProxyHost is not null && !fetch.Url.IsHttps);
                        connection.OnOpened(fetch.Url);
                    }

                    fetch.Mark(FetchTimes.Connect);
                    Http1Connection current = connection;
                    AddRunning(current);
                    try
                    {
                        // Completes on the loop thread.
                        outcome = await current.RunAsync(fetch).ConfigureAwait(false);
                        if (outcome.KeepAlive)
                        {
                            _pool.Return(current);
                        }
                        else
                        {
                            current.Discard();
                        }

                        break;
                    }
                    catch (HttpStreamClosedError) when (reused && !current.ResponseStarted && IsIdempotent(request.Method) && request.BodyProducer is null)
                    {
                        // The server dropped the pooled connection as we used it: once more, on a new one.
                        current.Discard();
                        connection = null;
                        reused = false;
                    }
                    catch
                    {
                        current.Discard();
                        throw;
                    }
                    finally
                    {
                        RemoveRunning(current);
                    }
                }
            }
            finally
            {
                ReleaseSlot();
            }

            if (outcome.Redirect is null)
            {
                return outcome.Response!;
            }

            fetch.Request = outcome.Redirect;
            fetch.Url = outcome.RedirectUrl!;
            OnRedirect(fetch, fetch.RedirectCode, outcome.Redirect.Url);
        }
    }

    private protected override void CloseCore()
    {
        // Connects end through their connector's cancellation (posted to the loop); exchanges at
        // once, each unwinding inline from its Abort.
        _closing.Cancel();
        var running = new List<Http1Connection>();
        for (Http1Connection? connection = _running; connection is not null; connection = connection.RunningNext)
        {
            running.Add(connection);
        }

        foreach (Http1Connection connection in running)
        {
            connection.Abort(ClientClosed());
        }

        _pool.Clear();
    }

    private void AddRunning(Http1Connection connection)
    {
        connection.RunningPrevious = null;
        connection.RunningNext = _running;
        if (_running is not null)
        {
            _running.RunningPrevious = connection;
        }

        _running = connection;
    }

    private void RemoveRunning(Http1Connection connection)
    {
        if (connection.RunningPrevious is { } previous)
        {
            previous.RunningNext = connection.RunningNext;
        }
        else
        {
            _running = connection.RunningNext;
        }

        if (connection.RunningNext is { } next)
        {
            next.RunningPrevious = connection.RunningPrevious;
        }

        connection.RunningPrevious = null;
        connection.RunningNext = null;
    }

    /// <summary>The error of a fetch ended by <see cref="AsyncHttpClient.Close"/> (the base class puts it in a 599).</summary>
    private static ObjectDisposedException ClientClosed() => new(nameof(SimpleAsyncHttpClient), "The client was closed.");

    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<IOStream> ConnectAsync(FetchState fetch)
    {
        HttpRequest request = fetch.Request;
        RequestUrl url = fetch.Url;
        TimeSpan timeout = request.ConnectTimeout!.Value;
        if (!double.IsPositiveInfinity(fetch.Deadline))
        {
            TimeSpan left = TimeSpan.FromSeconds(Math.Max(0.001, fetch.Deadline - Loop.Time()));
            timeout = timeout <= TimeSpan.Zero || left < timeout ? left : timeout;
        }

        bool proxied = request.ProxyHost is not null;
        var options = new TcpConnectOptions
        {
            Timeout = timeout,
            AllowIpv6 = request.AllowIpv6 != false,
            NetworkInterface = request.NetworkInterface,
            StreamOptions = StreamOptions,
            Tls = url.IsHttps && !proxied ? TlsOptions(request) : null,
        };
        // The connect's start is read only where something uses it: a tunnel's handshake budget
        // and the debug log of the connect's duration.
        bool logConnect = Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug);
        long started = proxied || logConnect ? Stopwatch.GetTimestamp() : 0;
        IOStream? stream = null;

        // The connect ends on the fetch's cancellation or the client's Close, whichever comes
        // first. (A linked source per connect: connects are not the keep-alive path.)
        using CancellationTokenSource? linked = fetch.CancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(fetch.CancellationToken, _closing.Token)
            : null;
        CancellationToken abort = linked?.Token ?? _closing.Token;
        try
        {
            stream = proxied
                ? await _connector.ConnectAsync(request.ProxyHost!, request.ProxyPort ?? DefaultProxyPort, options, abort).ConfigureAwait(true)
                : await _connector.ConnectAsync(url.Host, url.Port, options, abort).ConfigureAwait(true);
            stream.SetNoDelay(true);
            if (proxied && url.IsHttps)
            {
                TimeSpan remaining = timeout <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan : timeout - Stopwatch.GetElapsedTime(started);
                stream = await ProxyTunnel.OpenAsync(stream, fetch, abort, TlsOptions(request) with { ServerName = url.Host }, remaining, MaxHeaderSize).ConfigureAwait(true);
            }

            if (logConnect)
            {
                OnConnected(url.Host, url.Port, (stream.Socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address.ToString(), Stopwatch.GetElapsedTime(started));
            }

            return stream;
        }
        catch (Exception e) when (IsClosed && !fetch.CancellationToken.IsCancellationRequested && e is not HttpClientError)
        {
            // Closed under the connect: whatever the abandoned connect ended with, the client's closing is the cause.
            stream?.Close();
            throw ClientClosed();
        }
        catch (TimeoutException)
        {
            stream?.Close();
            throw new HttpTimeoutError(HttpTimeoutPhase.Connect);
        }
        catch (OperationCanceledException) when (fetch.CancellationToken.IsCancellationRequested)
        {
            stream?.Close();
            throw;
        }
        catch (Exception e) when (e is not HttpClientError)
        {
            stream?.Close();
            throw proxied && e is not TlsHandshakeException
                ? ConnectFailure(e, request.ProxyHost!, request.ProxyPort ?? DefaultProxyPort, tls: false)
                : ConnectFailure(e, url.Host, url.Port, tls: url.IsHttps);
        }
        catch
        {
            stream?.Close();
            throw;
        }
    }

    /// <summary>
    /// The typed error for a failed connect to <paramref name="host"/>:<paramref name="port"/>:
    /// a TLS failure (<paramref name="tls"/>: a handshake that failed, or a connection that closed
    /// under it) or a connect failure (the name did not resolve, every address refused, a local
    /// address or interface that cannot be used).
    /// </summary>
    private static HttpClientError ConnectFailure(Exception e, string host, int port, bool tls)
    {
        switch (e)
        {
            case TlsHandshakeException handshake:
                return new HttpTlsError(handshake.Reason, $"{handshake.Message} ({host}:{port})", handshake);
            case ResolveException resolve:
                return new HttpConnectError(host, port, $"Could not resolve {host}: {resolve.Message}", resolve);
            case SocketException socket:
                return new HttpConnectError(host, port, $"Could not connect to {host}:{port}: {socket.Message}", socket);
            case StreamClosedException closed when closed.InnerException is SocketException socket && (!tls || IsConnectFailure(socket.SocketErrorCode)):
                return new HttpConnectError(host, port, $"Could not connect to {host}:{port}: {socket.Message}", socket);
            case StreamClosedException closed when tls:
                // Connected, then closed or reset during the handshake (a server that does not speak TLS, or drops us).
                return new HttpTlsError(
                    TlsFailureReason.Other,
                    $"The connection to {host}:{port} closed during the TLS handshake",
                    new TlsHandshakeException(TlsFailureReason.Other, "The connection closed during the TLS handshake.", closed.InnerException ?? closed));
            default:
                return new HttpConnectError(host, port, $"Could not connect to {host}:{port}: {e.Message}", e);
        }
    }

    /// <summary>Socket errors that mean the connection was never made (rather than lost after it was).</summary>
    private static bool IsConnectFailure(SocketError error) => error is
        SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or
        SocketError.HostDown or SocketError.NetworkDown or SocketError.TimedOut or SocketError.AddressNotAvailable or
        SocketError.AddressAlreadyInUse or SocketError.AccessDenied or SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData;

    private static TlsClientOptions TlsOptions(HttpRequest request) => new()
    {
        ValidateCertificate = request.ValidateCert != false,
        CaCertificatesFile = request.CaCerts,
        ClientCertificateFile = request.ClientCert,
        ClientKeyFile = request.ClientKey,
        ApplicationProtocols = [SslApplicationProtocol.Http11],
        BaseOptions = request.SslOptions,
    };

    /// <summary>What makes two connections interchangeable: where they go, through which proxy, and how they were made.</summary>
    private static OriginKey KeyFor(HttpRequest request, RequestUrl url) => new(
        url.SchemeHostPort,
        request.ProxyHost,
        request.ProxyHost is null ? 0 : request.ProxyPort ?? DefaultProxyPort,
        request.ProxyHost is null ? null : request.ProxyUsername,
        request.ProxyHost is null ? null : request.ProxyPassword,
        request.NetworkInterface,
        request.AllowIpv6 != false,
        request.ValidateCert != false,
        request.CaCerts,
        request.ClientCert,
        request.ClientKey,
        request.SslOptions);

    private static bool IsIdempotent(string method) => method is "GET" or "HEAD" or "PUT" or "DELETE" or "OPTIONS" or "TRACE";
}
