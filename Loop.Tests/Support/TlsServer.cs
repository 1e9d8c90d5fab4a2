using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Loop.Tests.Support;

/// <summary>
/// A TLS echo server on 127.0.0.1 on the thread pool (.NET's own SslStream), presenting a chosen
/// certificate: the independent peer the loop's TLS client is tested against.
/// </summary>
public sealed class TlsServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly X509Certificate2 _certificate;
    private readonly bool _requireClientCertificate;

    private TlsServer(X509Certificate2 certificate, bool requireClientCertificate)
    {
        _certificate = certificate;
        _requireClientCertificate = requireClientCertificate;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>Subjects of the client certificates the server accepted, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> ClientSubjects { get; } = new();

    /// <summary>
    /// Starts the server. With <paramref name="requireClientCertificate"/> a client must present a
    /// certificate the test CA issued, or the handshake fails on the server's side.
    /// </summary>
    public static TlsServer Start(X509Certificate2 certificate, bool requireClientCertificate = false)
    {
        var server = new TlsServer(certificate, requireClientCertificate);
        _ = Task.Run(() => AcceptLoop.RunAsync(server._listener, server._stop.Token, server.EchoAsync));
        return server;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private bool AcceptClientFromTestAuthority(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || certificate.Issuer != TestCertificates.Authority.Subject)
        {
            return false;
        }

        ClientSubjects.Enqueue(certificate.Subject);
        return true;
    }

    private async Task EchoAsync(Socket socket)
    {
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _certificate,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                ClientCertificateRequired = _requireClientCertificate,
                RemoteCertificateValidationCallback = _requireClientCertificate ? AcceptClientFromTestAuthority : null,
            }, _stop.Token);
            var buffer = new byte[4096];
            int n;
            while ((n = await ssl.ReadAsync(buffer, _stop.Token)) > 0)
            {
                await ssl.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or ObjectDisposedException)
        {
            // The client rejected the certificate or went away: that is what these tests provoke.
        }
    }
}
