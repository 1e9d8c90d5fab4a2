using System.Net.Security;
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

    private readonly TcpConnector _connector;
    private readonly ConnectionPool _pool;
    private readonly HashSet<Http1Exchange> _running = [];

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
            settings.IdleConnectionTimeout ?? TimeSpan.FromSeconds(60),
            settings.MaxIdleConnectionsPerOrigin ?? 8);
    }

    /// <summary>Idle keep-alive connections held now.</summary>
    public int IdleConnectionCount => _pool.IdleCount;

    internal int MaxBufferSize { get; }

    internal int MaxHeaderSize { get; }

    internal long MaxBodySize { get; }

    internal IOStreamOptions StreamOptions { get; }

    private protected override void ValidateForImplementation(HttpRequest request)
    {
        if (request.AuthMode != HttpAuthMode.Basic && (request.AuthUsername is not null || HasUrlCredentials(request.Url)))
        {
            throw new ArgumentException($"Unsupported auth mode {request.AuthMode}: {nameof(SimpleAsyncHttpClient)} supports Basic only.", nameof(request));
        }

        if (request.ProxyHost is not null)
        {
            throw new ArgumentException($"{nameof(SimpleAsyncHttpClient)} does not speak to proxies yet; use the curl client for ProxyHost.", nameof(request));
        }
    }

    private protected override async Task<HttpResponse> FetchCoreAsync(FetchState fetch)
    {
        while (true)
        {
            await AcquireSlotAsync(fetch).ConfigureAwait(true);
            Http1Exchange.Outcome outcome;
            try
            {
                outcome = await RunHopAsync(fetch).ConfigureAwait(true);
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
        }
    }

    private protected override void CloseCore()
    {
        foreach (Http1Exchange exchange in _running.ToArray())
        {
            exchange.Abort(new ObjectDisposedException(nameof(SimpleAsyncHttpClient), "The client was closed."));
        }

        _pool.Clear();
    }

    private static bool HasUrlCredentials(string url) => Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && uri.UserInfo.Length > 0;

    /// <summary>One request and its response on one connection (a fresh or a pooled one).</summary>
    private async Task<Http1Exchange.Outcome> RunHopAsync(FetchState fetch)
    {
        HttpRequest request = fetch.Request;
        var uri = new Uri(request.Url);
        string origin = OriginKey(uri, request);
        IOStream? stream = _pool.Take(origin);
        bool reused = stream is not null;
        for (int attempt = 0; ; attempt++)
        {
            if (stream is null)
            {
                double started = Loop.Time();
                stream = await ConnectAsync(fetch, uri).ConfigureAwait(true);
                fetch.SetTime("connect", TimeSpan.FromSeconds(Loop.Time() - started));
            }

            var exchange = new Http1Exchange(this, fetch, stream, uri);
            _running.Add(exchange);
            try
            {
                Http1Exchange.Outcome outcome = await exchange.RunAsync().ConfigureAwait(true);
                if (outcome.KeepAlive)
                {
                    _pool.Return(origin, stream);
                }
                else
                {
                    stream.Close();
                }

                return outcome;
            }
            catch (HttpStreamClosedError) when (reused && attempt == 0 && !exchange.ResponseStarted && IsIdempotent(request.Method) && request.BodyProducer is null)
            {
                // The server dropped the pooled connection as we used it: once more, on a new one.
                stream.Close();
                stream = null;
                reused = false;
            }
            catch
            {
                stream.Close();
                throw;
            }
            finally
            {
                _running.Remove(exchange);
            }
        }
    }

    private async Task<IOStream> ConnectAsync(FetchState fetch, Uri uri)
    {
        HttpRequest request = fetch.Request;
        TimeSpan timeout = request.ConnectTimeout!.Value;
        if (!double.IsPositiveInfinity(fetch.Deadline))
        {
            TimeSpan left = TimeSpan.FromSeconds(Math.Max(0.001, fetch.Deadline - Loop.Time()));
            timeout = timeout <= TimeSpan.Zero || left < timeout ? left : timeout;
        }

        var options = new TcpConnectOptions
        {
            Timeout = timeout,
            AllowIpv6 = request.AllowIpv6 != false,
            NetworkInterface = request.NetworkInterface,
            StreamOptions = StreamOptions,
            Tls = uri.Scheme == "https" ? TlsOptions(request) : null,
        };
        try
        {
            IOStream stream = await _connector.ConnectAsync(uri.IdnHost, uri.Port, options, fetch.CancellationToken).ConfigureAwait(true);
            stream.SetNoDelay(true);
            return stream;
        }
        catch (TimeoutException)
        {
            throw new HttpTimeoutError("Timeout while connecting");
        }
        catch (OperationCanceledException) when (fetch.CancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not HttpClientError)
        {
            throw new HttpClientError(599, e.Message, innerException: e);
        }
    }

    private static TlsClientOptions TlsOptions(HttpRequest request) => new()
    {
        ValidateCertificate = request.ValidateCert != false,
        CaCertificatesFile = request.CaCerts,
        ClientCertificateFile = request.ClientCert,
        ClientKeyFile = request.ClientKey,
        ApplicationProtocols = [SslApplicationProtocol.Http11],
        BaseOptions = request.SslOptions,
    };

    /// <summary>What makes two connections interchangeable: where they go and how they were made.</summary>
    private static string OriginKey(Uri uri, HttpRequest request) =>
        $"{uri.Scheme}://{uri.IdnHost}:{uri.Port}|{request.NetworkInterface}|{request.AllowIpv6}|{request.ValidateCert}|{request.CaCerts}|{request.ClientCert}|{request.ClientKey}|{(request.SslOptions is null ? 0 : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(request.SslOptions))}";

    private static bool IsIdempotent(string method) => method is "GET" or "HEAD" or "PUT" or "DELETE" or "OPTIONS" or "TRACE";
}
