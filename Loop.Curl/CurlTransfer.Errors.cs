using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;

namespace Loop.Curl;

/// <summary>Error mapping: a CURLcode turned into the typed error the caller sees.</summary>
internal sealed partial class CurlTransfer
{
    /// <summary>The typed error for a CURLcode, with curl's own message.</summary>
    private Exception ErrorFor(int result)
    {
        string message = Easy.ErrorMessage() ?? LibCurl.ErrorText(result);
        switch (result)
        {
            case CurlCode.OperationTimedOut:
                bool connected = LibCurl.curl_easy_getinfo_double(Handle, CurlInfo.ConnectTime, out double connectTime) == 0 && connectTime > 0;
                return new HttpTimeoutError(connected ? HttpTimeoutPhase.Request : HttpTimeoutPhase.Connect);
            case CurlCode.CouldNotConnect:
                return new HttpClientError(599, message, innerException: SocketErrorFor(OsErrno()));
            case CurlCode.WeirdServerReply:
            case CurlCode.UnsupportedProtocol when message.Contains("HTTP version", StringComparison.OrdinalIgnoreCase):
                return new HttpProtocolError(message);
            case CurlCode.GotNothing or CurlCode.PartialFile or CurlCode.ReceiveError or CurlCode.SendError:
                return new HttpStreamClosedError($"Stream closed: {message}", new IOException(message));
            case CurlCode.PeerFailedVerification or CurlCode.SslConnectError or CurlCode.SslCertProblem or CurlCode.SslCaCertBadFile or CurlCode.SslIssuerError:
                return new HttpClientError(599, message, innerException: new TlsHandshakeException(TlsReasonFor(result, message), "TLS handshake failed: " + message));
            default:
                return new HttpClientError(599, message);
        }
    }

    private int OsErrno() => LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.OsErrno, out CLong errno) == 0 ? (int)errno.Value : 0;

    /// <summary>The socket error for a Linux errno of a failed connect, so callers see the same exception as from the simple client.</summary>
    private static System.Net.Sockets.SocketException SocketErrorFor(int errno) => new((int)(errno switch
    {
        111 => System.Net.Sockets.SocketError.ConnectionRefused,
        110 => System.Net.Sockets.SocketError.TimedOut,
        113 => System.Net.Sockets.SocketError.HostUnreachable,
        101 => System.Net.Sockets.SocketError.NetworkUnreachable,
        104 => System.Net.Sockets.SocketError.ConnectionReset,
        _ => System.Net.Sockets.SocketError.SocketError,
    }));

    private static TlsFailureReason TlsReasonFor(int result, string message)
    {
        if (message.Contains("expired", StringComparison.OrdinalIgnoreCase) || message.Contains("not yet valid", StringComparison.OrdinalIgnoreCase))
        {
            return TlsFailureReason.Expired;
        }

        if (message.Contains("host name", StringComparison.OrdinalIgnoreCase) || message.Contains("subject name", StringComparison.OrdinalIgnoreCase))
        {
            return TlsFailureReason.NameMismatch;
        }

        return result == CurlCode.PeerFailedVerification ? TlsFailureReason.UntrustedRoot : TlsFailureReason.Other;
    }
}
