using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop;

/// <summary>
/// Opens <see cref="IOStream"/>s to a host and port (Tornado's <c>TCPClient</c>): resolves the
/// name, tries the addresses Happy Eyeballs style, and optionally completes a TLS handshake.
/// </summary>
/// <remarks>
/// The addresses of the family the resolver listed first are tried one after another; the other
/// family starts after <see cref="TcpConnectOptions.FallbackDelay"/> or as soon as the first runs
/// out, and the first connection to succeed wins (the others are closed). If all fail, the last
/// error is raised. Loop thread only.
/// </remarks>
public sealed partial class TcpConnector
{
    private readonly IOLoop _loop;

    // The last IP literal connected to, parsed: a client connects to the same one again and
    // again. Replaced whole, so a call from another thread sees one entry or the other.
    private LiteralEndPoint? _lastLiteral;

    /// <summary>Creates a connector.</summary>
    /// <param name="resolver">Resolves host names; null for <see cref="DefaultResolver.Instance"/>.</param>
    /// <param name="loop">The loop the streams run on; null for <see cref="IOLoop.Current"/>.</param>
    public TcpConnector(IResolver? resolver = null, IOLoop? loop = null)
    {
        Resolver = resolver ?? DefaultResolver.Instance;
        _loop = loop ?? IOLoop.Current;
    }

    /// <summary>The resolver in use.</summary>
    public IResolver Resolver { get; }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/>. The stream returned is
    /// connected (and, with <see cref="TcpConnectOptions.Tls"/>, an <see cref="SslIOStream"/> past
    /// its handshake, checked against <paramref name="host"/> unless the TLS options name another).
    /// To an IP literal the connect is made in the loop's next callbacks, not inside this call,
    /// together with the other connects started in the same iteration: a burst that a server
    /// near by takes on one wake-up. To a host name it starts once the name has resolved.
    /// </summary>
    /// <param name="host">A host name or IP literal (IPv6 with or without brackets).</param>
    /// <param name="port">The TCP port.</param>
    /// <param name="options">Null for the defaults (no timeout, IPv6 allowed, plain TCP).</param>
    /// <param name="cancellationToken">Abandons the connect; the task fails with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ResolveException">(In the task.) The host does not resolve.</exception>
    /// <exception cref="StreamClosedException">(In the task.) Every address failed; the inner exception is the last failure, such as ConnectionRefused.</exception>
    /// <exception cref="TimeoutException">(In the task.) <see cref="TcpConnectOptions.Timeout"/> ran out.</exception>
    /// <exception cref="TlsHandshakeException">(In the task.) The TLS handshake failed.</exception>
    public ValueTask<IOStream> ConnectAsync(string host, int port, TcpConnectOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (_lastLiteral is { } last && ReferenceEquals(last.Host, host) && last.EndPoint.Port == port && options?.NetworkInterface is null
            && Resolver is DefaultResolver && ((options ?? TcpConnectOptions.Default).AllowIpv6 || last.EndPoint.AddressFamily == AddressFamily.InterNetwork))
        {
            // The literal connected to last time, already checked and parsed.
            return ConnectToAddressAsync(last.EndPoint, last.Bare, options ?? TcpConnectOptions.Default, cancellationToken);
        }

        string bare;
        IPAddress? literal;
        try
        {
            ArgumentException.ThrowIfNullOrEmpty(host);
            DefaultResolver.ValidatePort(port);
            options ??= TcpConnectOptions.Default;
            if (options.NetworkInterface is { } name && !NetUtil.IsValidIP(name) && !OperatingSystem.IsLinux())
            {
                throw new PlatformNotSupportedException($"Binding to the network interface '{name}' by name needs SO_BINDTODEVICE, which only Linux has; give its IP address instead.");
            }

            bare = NetUtil.StripBrackets(host);
            NetUtil.TryParseIPLiteral(bare, out literal);
        }
        catch (Exception e) when (e is ArgumentException or PlatformNotSupportedException)
        {
            return ValueTask.FromException<IOStream>(e);
        }

        if (literal is not null && Resolver is DefaultResolver && (options.AllowIpv6 || literal.AddressFamily == AddressFamily.InterNetwork))
        {
            // One address and nothing to resolve (the default resolver answers a literal with
            // itself): no race to run, so a single attempt, without the operation's queues.
            var endpoint = new IPEndPoint(literal, port);
            _lastLiteral = new LiteralEndPoint(host, bare, endpoint);
            return ConnectToAddressAsync(endpoint, bare, options, cancellationToken);
        }

        return new ConnectOperation(this, bare, port, options, cancellationToken).RunAsync();
    }

    /// <summary>An IP literal as the caller gave it (<paramref name="Host"/>), without brackets, and its endpoint (never changed once made).</summary>
    private sealed record LiteralEndPoint(string Host, string Bare, IPEndPoint EndPoint);

    /// <summary>One connect: the resolve, the racing attempts, the deadline. Runs on the loop thread.</summary>
    private sealed class ConnectOperation
    {
        private readonly TcpConnector _owner;
        private readonly string _host;
        private readonly int _port;
        private readonly TcpConnectOptions _options;
        private readonly CancellationToken _cancellationToken;
        private readonly TaskCompletionSource<IOStream> _result = new();
        private readonly List<IOStream> _attempts = [];
        private readonly Queue<IPEndPoint> _primary = new();
        private readonly Queue<IPEndPoint> _secondary = new();
        private TimeoutHandle _deadline;
        private TimeoutHandle _fallback;
        private bool _secondaryStarted;
        private bool _decided;
        private Exception? _lastError;

        public ConnectOperation(TcpConnector owner, string host, int port, TcpConnectOptions options, CancellationToken cancellationToken)
        {
            _owner = owner;
            _host = host;
            _port = port;
            _options = options;
            _cancellationToken = cancellationToken;
        }

        private bool _failing;

        private IOLoop Loop => _owner._loop;

        public async ValueTask<IOStream> RunAsync()
        {
            if (_options.Timeout > TimeSpan.Zero)
            {
                _deadline = Loop.CallLater(_options.Timeout, static state => ((ConnectOperation)state!).Fail(null), this);
            }

            using CancellationTokenRegistration registration = _cancellationToken.CanBeCanceled
                ? _cancellationToken.UnsafeRegister(static state => ((ConnectOperation)state!).CancelFromAnyThread(), this)
                : default;
            _ = ResolveThenConnectAsync();
            try
            {
                return await _result.Task.ConfigureAwait(true);
            }
            finally
            {
                Loop.RemoveTimeout(_deadline);
                Loop.RemoveTimeout(_fallback);
            }
        }

        private void CancelFromAnyThread() =>
            Loop.AddCallback(static state => ((ConnectOperation)state!).Fail(new OperationCanceledException(((ConnectOperation)state!)._cancellationToken)), this);

        private async Task ResolveThenConnectAsync()
        {
            IPEndPoint[] endpoints;
            try
            {
                AddressFamily family = _options.AllowIpv6 ? AddressFamily.Unspecified : AddressFamily.InterNetwork;
                endpoints = await _owner.Resolver.ResolveAsync(_host, _port, family, _cancellationToken).ConfigureAwait(true);
            }
            catch (Exception e)
            {
                Fail(e);
                return;
            }

            if (_result.Task.IsCompleted)
            {
                return;
            }

            // A resolver may ignore the family it was asked for (an application's own, a fixed
            // map): without IPv6 allowed, its IPv6 answers are dropped here.
            AddressFamily? primaryFamily = null;
            foreach (IPEndPoint endpoint in endpoints)
            {
                if (!_options.AllowIpv6 && endpoint.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    continue;
                }

                primaryFamily ??= endpoint.AddressFamily;
                (endpoint.AddressFamily == primaryFamily ? _primary : _secondary).Enqueue(endpoint);
            }

            if (primaryFamily is null)
            {
                string what = endpoints.Length == 0 ? "no address" : "only IPv6 addresses, and IPv6 is not allowed";
                Fail(new ResolveException(_host, $"Could not resolve host '{_host}': {what}."));
                return;
            }

            if (!TryNext(_primary))
            {
                StartSecondary();
                return;
            }

            if (_secondary.Count > 0)
            {
                _fallback = Loop.CallLater(_options.FallbackDelay, static state => ((ConnectOperation)state!).StartSecondary(), this);
            }
        }

        private void StartSecondary()
        {
            if (_secondaryStarted || _result.Task.IsCompleted)
            {
                return;
            }

            _secondaryStarted = true;
            Loop.RemoveTimeout(_fallback);
            _fallback = default;
            if (!TryNext(_secondary))
            {
                FailIfExhausted();
            }
        }

        /// <summary>Starts a connect to the next address of <paramref name="queue"/>; false if none could start.</summary>
        private bool TryNext(Queue<IPEndPoint> queue)
        {
            while (queue.TryDequeue(out IPEndPoint? endpoint))
            {
                IOStream stream;
                try
                {
                    stream = CreateStream(endpoint.AddressFamily);
                }
                catch (Exception e)
                {
                    // A socket that cannot be made or bound for this family (or options the
                    // stream refuses): the next address may do, else this is the error reported.
                    _lastError = e;
                    continue;
                }

                _attempts.Add(stream);
                _ = AttemptAsync(stream, endpoint, queue);
                return true;
            }

            return false;
        }

        private async Task AttemptAsync(IOStream stream, IPEndPoint endpoint, Queue<IPEndPoint> queue)
        {
            try
            {
                await stream.ConnectAsync(endpoint).ConfigureAwait(true);
            }
            catch (Exception e)
            {
                _attempts.Remove(stream);
                stream.Close();
                if (_decided || _result.Task.IsCompleted)
                {
                    return;
                }

                _lastError = e is StreamClosedException or SocketException
                    ? new StreamClosedException($"Could not connect to {endpoint}: {(e.InnerException ?? e).Message}", e.InnerException ?? e)
                    : e;
                if (!TryNext(queue))
                {
                    if (queue == _primary)
                    {
                        StartSecondary();
                    }

                    FailIfExhausted();
                }

                return;
            }

            if (_decided || _result.Task.IsCompleted)
            {
                stream.Close();
                return;
            }

            _decided = true;
            Loop.RemoveTimeout(_fallback);
            _attempts.Remove(stream);
            CloseAttempts();
            _attempts.Add(stream);
            if (_options.Tls is { } tls && stream is SslIOStream ssl)
            {
                try
                {
                    await ssl.AuthenticateAsClientAsync(tls.WithDefaultServerName(_host), CancellationToken.None).ConfigureAwait(true);
                }
                catch (Exception e)
                {
                    Fail(e);
                    return;
                }
            }

            _attempts.Clear();
            if (!_result.TrySetResult(stream))
            {
                stream.Close();
            }
        }

        private void FailIfExhausted()
        {
            if (_attempts.Count == 0 && _primary.Count == 0 && _secondary.Count == 0 && (_secondaryStarted || _secondary.Count == 0))
            {
                Fail(_lastError ?? new StreamClosedException($"Could not connect to {_host}:{_port}"));
            }
        }

        /// <summary>Ends the operation with <paramref name="error"/> (null: the deadline passed) and closes every attempt.</summary>
        private void Fail(Exception? error)
        {
            // Closing the attempts below fails their handshakes, whose failures come back here
            // at once (their continuations run inline on the loop): the first cause wins.
            if (_result.Task.IsCompleted || _failing)
            {
                return;
            }

            _failing = true;
            error ??= new TimeoutException($"Timeout while connecting to {_host}:{_port} (after {_options.Timeout.TotalSeconds:0.###} s)");
            _decided = true;
            CloseAttempts();
            _result.TrySetException(error);
        }

        private void CloseAttempts()
        {
            foreach (IOStream attempt in _attempts.ToArray())
            {
                attempt.Close();
            }

            _attempts.Clear();
        }

        private IOStream CreateStream(AddressFamily family) => CreateStream(family, _options, Loop);

        /// <summary>An unconnected stream for <paramref name="family"/>, bound as the options say.</summary>
        internal static IOStream CreateStream(AddressFamily family, TcpConnectOptions options, IOLoop loop)
        {
            var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                IPAddress? source = options.SourceAddress;
                if (options.NetworkInterface is { } name)
                {
                    if (NetUtil.TryParseIPLiteral(name, out IPAddress? address))
                    {
                        source = address;
                    }
                    else
                    {
                        BindToDevice(socket, name);
                    }
                }

                if (source is not null || options.SourcePort != 0)
                {
                    source ??= family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
                    if (source.AddressFamily != family)
                    {
                        throw new IOException($"The source address {source} cannot be used to reach an {(family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} address.");
                    }

                    socket.Bind(new IPEndPoint(source, options.SourcePort));
                }

                return options.Tls is null
                    ? new IOStream(socket, options.StreamOptions, loop)
                    : new SslIOStream(socket, options.StreamOptions, loop);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        private static void BindToDevice(Socket socket, string name)
        {
            const int SolSocket = 1;
            const int SoBindToDevice = 25;
            if (!OperatingSystem.IsLinux())
            {
                throw new PlatformNotSupportedException($"Binding to the network interface '{name}' by name needs SO_BINDTODEVICE, which only Linux has; give its IP address instead.");
            }

            byte[] value = Encoding.UTF8.GetBytes(name + "\0");
            try
            {
                socket.SetRawSocketOption(SolSocket, SoBindToDevice, value);
            }
            catch (SocketException e)
            {
                throw new IOException($"Cannot bind to network interface '{name}': {e.Message}", e);
            }
        }
    }
}
