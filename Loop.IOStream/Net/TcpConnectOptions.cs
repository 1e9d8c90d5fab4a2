using System.Net;

namespace Loop;

/// <summary>How <see cref="TcpConnector.ConnectAsync"/> connects.</summary>
public sealed class TcpConnectOptions
{
    internal static readonly TcpConnectOptions Default = new();

    /// <summary>Allow IPv6 addresses (true) or resolve and connect over IPv4 only.</summary>
    public bool AllowIpv6 { get; init; } = true;

    /// <summary>
    /// The limit on the whole connect: resolving, TCP and the TLS handshake. Zero or less means no
    /// limit. When it runs out the connect fails with <see cref="TimeoutException"/>.
    /// </summary>
    public TimeSpan Timeout { get; init; }

    /// <summary>
    /// How long to wait on the first address family before also trying the other (Happy Eyeballs;
    /// Tornado's 0.3 s). A failure of every address of the first family starts the other at once.
    /// </summary>
    public TimeSpan FallbackDelay { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>The local address to connect from (Tornado's <c>source_ip</c>); null for any.</summary>
    public IPAddress? SourceAddress { get; init; }

    /// <summary>The local port to connect from (Tornado's <c>source_port</c>); 0 for any.</summary>
    public int SourcePort { get; init; }

    /// <summary>
    /// A network interface to connect through: an interface name such as <c>eth0</c> (Linux only,
    /// through SO_BINDTODEVICE; elsewhere the connect fails with
    /// <see cref="PlatformNotSupportedException"/>), or an IP address, used as the source address.
    /// </summary>
    public string? NetworkInterface { get; init; }

    /// <summary>Speak TLS over the connection: the result is an <see cref="SslIOStream"/> that has completed its handshake. Null for plain TCP.</summary>
    public TlsClientOptions? Tls { get; init; }

    /// <summary>Buffer limits of the stream; null for the defaults.</summary>
    public IOStreamOptions? StreamOptions { get; init; }
}
