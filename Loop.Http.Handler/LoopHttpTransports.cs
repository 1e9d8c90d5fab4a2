namespace Loop.Http;

/// <summary>
/// The loops a service container shares between its <see cref="LoopHttpMessageHandler"/>s (what
/// <c>AddLoop</c> registers, as a singleton the container disposes): one
/// <see cref="LoopHttpTransport"/> per distinct client choice (kind, <c>MaxClients</c>, client
/// settings), made on first use. Handlers that <c>IHttpClientFactory</c> makes and recycles
/// share them and never stop them; <see cref="Dispose"/> (the container's) stops them all.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class LoopHttpTransports : IDisposable
{
    private readonly Dictionary<(LoopClientKind Kind, int? MaxClients, AsyncHttpClientSettings? Settings), LoopHttpTransport> _transports = [];
    private readonly LoopHttpMessageHandlerOptions _defaults;
    private bool _disposed;

    /// <summary>Creates the set, with the options that <c>UseLoop</c> starts from.</summary>
    public LoopHttpTransports(LoopHttpMessageHandlerOptions? defaults = null)
    {
        _defaults = defaults is null ? new LoopHttpMessageHandlerOptions() : defaults with { };
    }

    /// <summary>A copy of the options given to <c>AddLoop</c>, which <c>UseLoop</c>'s own configuration starts from.</summary>
    public LoopHttpMessageHandlerOptions Defaults => _defaults with { };

    /// <summary>The transport for the client that <paramref name="options"/> choose (<see cref="LoopHttpMessageHandlerOptions.Client"/>, <see cref="LoopHttpMessageHandlerOptions.MaxClients"/>, <see cref="LoopHttpMessageHandlerOptions.ClientSettings"/>): the same one each time for the same choice.</summary>
    /// <exception cref="ObjectDisposedException">The set was disposed.</exception>
    /// <exception cref="Loop.Curl.CurlUnavailableException">The curl client was asked for and libcurl cannot be loaded.</exception>
    public LoopHttpTransport Get(LoopHttpMessageHandlerOptions? options = null)
    {
        options ??= _defaults;
        var key = (options.Client, options.MaxClients, options.ClientSettings);
        lock (_transports)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_transports.TryGetValue(key, out LoopHttpTransport? transport))
            {
                transport = new LoopHttpTransport(options);
                _transports.Add(key, transport);
            }

            return transport;
        }
    }

    /// <summary>Stops every transport (their clients closed, their threads joined). Calling it again does nothing.</summary>
    public void Dispose()
    {
        LoopHttpTransport[] transports;
        lock (_transports)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            transports = [.. _transports.Values];
            _transports.Clear();
        }

        foreach (LoopHttpTransport transport in transports)
        {
            transport.Dispose();
        }
    }
}
