using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Loop.Tls;

/// <summary>
/// Builds the <see cref="SslClientAuthenticationOptions"/> for one handshake and remembers why
/// the certificate was rejected, so that the failure can name the reason.
/// </summary>
internal sealed class TlsValidation
{
    private readonly TlsClientOptions _options;
    private readonly RemoteCertificateValidationCallback? _userCallback;
    private TlsFailureReason _reason = TlsFailureReason.Other;
    private string? _detail;

    private TlsValidation(TlsClientOptions options)
    {
        _options = options;
        _userCallback = options.BaseOptions?.RemoteCertificateValidationCallback;
    }

    public static SslClientAuthenticationOptions Build(TlsClientOptions options, out TlsValidation validation)
    {
        validation = new TlsValidation(options);
        SslClientAuthenticationOptions? source = options.BaseOptions;
        var ssl = new SslClientAuthenticationOptions
        {
            AllowRenegotiation = source?.AllowRenegotiation ?? true,
            AllowTlsResume = source?.AllowTlsResume ?? true,
            CipherSuitesPolicy = source?.CipherSuitesPolicy,
            EncryptionPolicy = source?.EncryptionPolicy ?? EncryptionPolicy.RequireEncryption,
            LocalCertificateSelectionCallback = source?.LocalCertificateSelectionCallback,
            ClientCertificateContext = source?.ClientCertificateContext,
            ClientCertificates = source?.ClientCertificates,
            EnabledSslProtocols = options.EnabledProtocols != SslProtocols.None ? options.EnabledProtocols : source?.EnabledSslProtocols ?? SslProtocols.None,
            ApplicationProtocols = options.ApplicationProtocols is { } alpn ? [.. alpn] : source?.ApplicationProtocols,
            CertificateRevocationCheckMode = source?.CertificateRevocationCheckMode ?? X509RevocationMode.NoCheck,
        };

        // SslStream sends no SNI for an IP address and checks it against the IP entries.
        ssl.TargetHost = options.ServerName ?? source?.TargetHost ?? string.Empty;

        X509Certificate2Collection? trust = LoadTrust(options);
        ssl.CertificateChainPolicy = source?.CertificateChainPolicy?.Clone() ?? new X509ChainPolicy();
        ssl.CertificateChainPolicy.RevocationMode = ssl.CertificateRevocationCheckMode;

        // Chain building runs inside the handshake, on the loop thread: fetching missing
        // intermediates over the network there would block the loop.
        ssl.CertificateChainPolicy.DisableCertificateDownloads = true;
        if (trust is not null)
        {
            ssl.CertificateChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            ssl.CertificateChainPolicy.CustomTrustStore.AddRange(trust);
        }

        if (LoadClientCertificate(options) is { } clientCertificate)
        {
            ssl.ClientCertificates = [clientCertificate];
        }

        ssl.RemoteCertificateValidationCallback = validation.Validate;
        return ssl;
    }

    /// <summary>Turns a failed handshake into the typed error, naming the reason found in validation.</summary>
    public TlsHandshakeException CreateException(Exception error)
    {
        if (_detail is not null)
        {
            return new TlsHandshakeException(_reason, "TLS handshake failed: " + _detail, error);
        }

        return new TlsHandshakeException(TlsFailureReason.Other, "TLS handshake failed: " + error.Message, error);
    }

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (!_options.ValidateCertificate)
        {
            return _userCallback?.Invoke(sender, certificate, chain, errors) ?? true;
        }

        if (!_options.CheckCertificateName)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return Reject(TlsFailureReason.NoCertificate, "the server sent no certificate");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return RejectChain(chain, certificate);
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return Reject(TlsFailureReason.NameMismatch, $"the certificate does not match host name '{_options.ServerName}' (subject: {certificate?.Subject})");
        }

        if (_userCallback is not null && !_userCallback(sender, certificate, chain, errors))
        {
            return Reject(TlsFailureReason.Other, "the certificate was rejected by the validation callback");
        }

        return true;
    }

    private bool RejectChain(X509Chain? chain, X509Certificate? certificate)
    {
        X509ChainStatusFlags flags = X509ChainStatusFlags.NoError;
        string statusText = string.Empty;
        if (chain is not null)
        {
            foreach (X509ChainStatus status in chain.ChainStatus)
            {
                flags |= status.Status;
                statusText = statusText.Length == 0 ? status.StatusInformation.Trim() : statusText;
            }
        }

        if ((flags & X509ChainStatusFlags.Revoked) != 0)
        {
            return Reject(TlsFailureReason.Revoked, $"the certificate has been revoked (subject: {certificate?.Subject})");
        }

        if ((flags & (X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested)) != 0)
        {
            string validity = certificate is X509Certificate2 c2 ? $" (valid from {c2.NotBefore:u} to {c2.NotAfter:u})" : string.Empty;
            return Reject(TlsFailureReason.Expired, $"the certificate has expired or is not yet valid{validity}");
        }

        return Reject(TlsFailureReason.UntrustedRoot, $"the certificate is not trusted: {(statusText.Length > 0 ? statusText : flags.ToString())} (subject: {certificate?.Subject}, issuer: {certificate?.Issuer})");
    }

    private bool Reject(TlsFailureReason reason, string detail)
    {
        _reason = reason;
        _detail = detail;
        return false;
    }

    private static X509Certificate2Collection? LoadTrust(TlsClientOptions options)
    {
        if (options.CaCertificatesFile is null && options.CaCertificates is null)
        {
            return null;
        }

        var trust = new X509Certificate2Collection();
        if (options.CaCertificatesFile is { } file)
        {
            try
            {
                trust.ImportFromPemFile(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new ArgumentException($"Cannot load CA certificates from '{file}': {e.Message}", nameof(options), e);
            }

            if (trust.Count == 0)
            {
                throw new ArgumentException($"No certificate found in the CA file '{file}'.", nameof(options));
            }
        }

        if (options.CaCertificates is { } certificates)
        {
            trust.AddRange(certificates);
        }

        return trust;
    }

    private static X509Certificate2? LoadClientCertificate(TlsClientOptions options)
    {
        if (options.ClientCertificateFile is not { } certificateFile)
        {
            return options.ClientCertificate;
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(certificateFile, options.ClientKeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new ArgumentException($"Cannot load the client certificate from '{certificateFile}'{(options.ClientKeyFile is null ? string.Empty : $" and '{options.ClientKeyFile}'")}: {e.Message}", nameof(options), e);
        }
    }
}
