using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Loop;

/// <summary>
/// The client side of a TLS handshake: whom to expect, what to trust, what to present. The
/// defaults verify the certificate chain against the system's roots and the host name against
/// <see cref="ServerName"/>, as Tornado does since 4.2.
/// </summary>
public sealed record TlsClientOptions
{
    /// <summary>
    /// The name sent as SNI and checked against the certificate. <see cref="TcpConnector"/> and
    /// the HTTP clients fill it with the host they connect to when it is null. An IP address is
    /// checked against the certificate's IP entries and not sent as SNI.
    /// </summary>
    public string? ServerName { get; init; }

    /// <summary>Verify the peer's certificate at all (Tornado's <c>validate_cert</c>). False accepts any certificate.</summary>
    public bool ValidateCertificate { get; init; } = true;

    /// <summary>Check that the certificate names <see cref="ServerName"/> (Python's <c>check_hostname</c>). Ignored when <see cref="ValidateCertificate"/> is false.</summary>
    public bool CheckCertificateName { get; init; } = true;

    /// <summary>A PEM file of CA certificates to trust instead of the system's roots (Tornado's <c>ca_certs</c>).</summary>
    public string? CaCertificatesFile { get; init; }

    /// <summary>CA certificates to trust instead of the system's roots (added to those of <see cref="CaCertificatesFile"/>).</summary>
    public X509Certificate2Collection? CaCertificates { get; init; }

    /// <summary>A PEM file with the client certificate (and its key, unless <see cref="ClientKeyFile"/> is set).</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>A PEM file with the client certificate's private key.</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>A client certificate with its private key, used if <see cref="ClientCertificateFile"/> is not set.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Protocols offered through ALPN, in order of preference (for example <see cref="SslApplicationProtocol.Http11"/>).</summary>
    public IList<SslApplicationProtocol>? ApplicationProtocols { get; init; }

    /// <summary>TLS versions to allow; <see cref="SslProtocols.None"/> lets the system choose.</summary>
    public SslProtocols EnabledProtocols { get; init; } = SslProtocols.None;

    /// <summary>
    /// Options to start from (for example a cipher policy or a custom validation callback), as the
    /// HTTP request's TLS options. They are copied; the settings above are applied on top, and a
    /// validation callback given here runs after ours accepted the certificate (or instead of ours
    /// when <see cref="ValidateCertificate"/> is false).
    /// </summary>
    public SslClientAuthenticationOptions? BaseOptions { get; init; }

    /// <summary>Returns a copy with <see cref="ServerName"/> set to <paramref name="host"/> if it had none.</summary>
    public TlsClientOptions WithDefaultServerName(string host) => ServerName is not null ? this : this with { ServerName = host };
}
