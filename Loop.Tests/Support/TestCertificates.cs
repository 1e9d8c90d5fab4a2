using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Loop.Tests.Support;

/// <summary>
/// Certificates made for the test run: a CA, a server certificate it signed for localhost,
/// foo.example.com and 127.0.0.1, an expired one, and a self-signed one nobody trusts.
/// </summary>
public static class TestCertificates
{
    private static readonly Lazy<Set> s_set = new(CreateOutsideWine);

    public static X509Certificate2 Authority => s_set.Value.Authority;

    public static X509Certificate2 Server => s_set.Value.Server;

    public static X509Certificate2 Expired => s_set.Value.Expired;

    public static X509Certificate2 SelfSigned => s_set.Value.SelfSigned;

    /// <summary>A client certificate (CN=Loop Test Client, client-auth usage) the test CA signed.</summary>
    public static X509Certificate2 Client => s_set.Value.Client;

    public static X509Certificate2Collection AuthorityCollection => [Authority];

    public static SslServerAuthenticationOptions ServerOptions(X509Certificate2? certificate = null) => new()
    {
        ServerCertificate = certificate ?? Server,
        ApplicationProtocols = [SslApplicationProtocol.Http11],
    };

    /// <summary>Client options that trust the test CA, checking <paramref name="serverName"/>.</summary>
    public static TlsClientOptions TrustingClient(string serverName = "localhost") => new()
    {
        ServerName = serverName,
        CaCertificates = AuthorityCollection,
    };

    /// <summary>Writes the CA certificate as PEM to a temporary file and returns its path.</summary>
    public static string WriteAuthorityPem()
    {
        string path = Path.Combine(Path.GetTempPath(), $"loop-test-ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(path, Authority.ExportCertificatePem());
        return path;
    }

    /// <summary>
    /// Writes the client certificate and its key as PEM to temporary files: two files, or one
    /// holding both when <paramref name="combined"/>. Returns the paths (the key path is null
    /// when combined); the caller deletes them.
    /// </summary>
    public static (string CertificateFile, string? KeyFile) WriteClientPem(bool combined)
    {
        string certificate = Client.ExportCertificatePem();
        string key = Client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();
        string certificateFile = Path.Combine(Path.GetTempPath(), $"loop-test-client-{Guid.NewGuid():N}.pem");
        if (combined)
        {
            File.WriteAllText(certificateFile, certificate + "\n" + key);
            return (certificateFile, null);
        }

        string keyFile = Path.Combine(Path.GetTempPath(), $"loop-test-client-key-{Guid.NewGuid():N}.pem");
        File.WriteAllText(certificateFile, certificate);
        File.WriteAllText(keyFile, key);
        return (certificateFile, keyFile);
    }

    private static Set CreateOutsideWine()
    {
        if (Wine.IsRunning)
        {
            // Measured under Wine 8.0: ECDsa.Create(ECCurve.NamedCurves.nistP256) throws
            // CryptographicException 0x80090029 (NTE_NOT_SUPPORTED) from its CNG, and a later
            // test in the same process then crashed with an AccessViolationException. Windows
            // itself creates these keys.
            Assert.Ignore("Wine 8 cannot make the test certificates: ECDsa.Create(nistP256) fails with NTE_NOT_SUPPORTED (0x80090029)");
        }

        return Create();
    }

    private static Set Create()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Loop Test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        X509Certificate2 authority = caRequest.CreateSelfSigned(now.AddDays(-60), now.AddYears(1));

        X509Certificate2 server = Issue(authority, "localhost", now.AddDays(-1), now.AddDays(30), serial: 1);
        X509Certificate2 expired = Issue(authority, "localhost", now.AddDays(-30), now.AddDays(-1), serial: 2);

        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clientRequest = new CertificateRequest("CN=Loop Test Client", clientKey, HashAlgorithmName.SHA256);
        clientRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        clientRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
        clientRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using X509Certificate2 clientPublic = clientRequest.Create(authority, now.AddDays(-1), now.AddDays(30), [3, 0x42, 0x17]);
        X509Certificate2 client = clientPublic.CopyWithPrivateKey(clientKey);

        using var selfKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var selfRequest = new CertificateRequest("CN=localhost", selfKey, HashAlgorithmName.SHA256);
        AddServerExtensions(selfRequest);
        X509Certificate2 selfSigned = selfRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        return new Set(authority, server, expired, selfSigned, client);
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string name, DateTimeOffset notBefore, DateTimeOffset notAfter, byte serial)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        AddServerExtensions(request);
        using X509Certificate2 publicOnly = request.Create(authority, notBefore, notAfter, [serial, 0x42, 0x17]);
        return publicOnly.CopyWithPrivateKey(key);
    }

    private static void AddServerExtensions(CertificateRequest request)
    {
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName("foo.example.com");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
    }

    private sealed record Set(X509Certificate2 Authority, X509Certificate2 Server, X509Certificate2 Expired, X509Certificate2 SelfSigned, X509Certificate2 Client);
}
