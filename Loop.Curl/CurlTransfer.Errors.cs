using System.Net.Sockets;
using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;

namespace Loop.Curl;

/// <summary>
/// Error mapping: a CURLcode turned into the typed error the simple client raises for the same
/// server behaviour, its message saying what the server did with libcurl's own text after it,
/// and <see cref="HttpClientError.CurlCode"/> set (Tornado's <c>CurlError.errno</c>).
/// </summary>
internal sealed partial class CurlTransfer
{
    /// <summary>The typed error for <paramref name="result"/>, a CURLcode other than CURLE_OK.</summary>
    private HttpClientError ErrorFor(int result)
    {
        HttpClientError error = ErrorFor(result, Easy.ErrorMessage() ?? LibCurl.ErrorText(result));
        error.CurlCode = result;
        return error;
    }

    private HttpClientError ErrorFor(int result, string curl)
    {
        switch (result)
        {
            case CurlCode.OperationTimedOut:
                return new HttpTimeoutError(IsConnected() ? HttpTimeoutPhase.Request : HttpTimeoutPhase.Connect);

            case CurlCode.CouldNotResolveHost or CurlCode.CouldNotResolveProxy:
                {
                    (string host, int port) = Target(result == CurlCode.CouldNotResolveProxy);
                    return new HttpConnectError(host, port, $"Could not resolve {host}: {curl}", new ResolveException(host, curl));
                }

            case CurlCode.CouldNotConnect or CurlCode.InterfaceFailed:
                {
                    (string host, int port) = Target(proxy: _request.ProxyHost is not null && !IsConnected());
                    SocketException socket = SocketErrorFor(OsErrno());
                    return new HttpConnectError(host, port, $"Could not connect to {host}:{port}: {socket.Message} ({curl})", socket);
                }

            case CurlCode.SslConnectError or CurlCode.SslCertProblem or CurlCode.SslCipher or CurlCode.PeerFailedVerification
                or CurlCode.SslCaCertBadFile or CurlCode.SslIssuerError or CurlCode.SslPinnedPublicKeyMismatch or CurlCode.SslInvalidCertStatus
                or CurlCode.SslClientCert or CurlCode.SslEngineNotFound or CurlCode.SslEngineInitFailed or CurlCode.SslShutdownFailed or CurlCode.SslCrlBadFile:
                {
                    (string host, int port) = Target(proxy: false);
                    TlsFailureReason reason = TlsReasonFor(result, curl);
                    return new HttpTlsError(reason, $"TLS handshake with {host}:{port} failed: {curl}", new TlsHandshakeException(reason, "TLS handshake failed: " + curl));
                }

            case CurlCode.UnsupportedProtocol when curl.Contains("HTTP/0.9", StringComparison.Ordinal):
                // libcurl: "Received HTTP/0.9 when not allowed": the first line was not a status line.
                return new HttpProtocolError($"The server did not answer with an HTTP/1.x status line (an HTTP/0.9 reply, or another protocol) ({curl})");

            case CurlCode.WeirdServerReply when curl.Contains("Content-Length", StringComparison.OrdinalIgnoreCase):
                // libcurl: "Invalid Content-Length: value", for a negative or non-numeric one.
                return new HttpProtocolError($"Only integer Content-Length is allowed ({curl})");

            case CurlCode.WeirdServerReply or CurlCode.UnsupportedProtocol when _headState != HeadState.Fields:
                // libcurl: "Unsupported response code in HTTP response", "Unsupported HTTP version
                // (3.0) in response": a status line it refused before our header callback saw it.
                return new HttpProtocolError($"Malformed HTTP response start line ({curl})");

            case CurlCode.WeirdServerReply or CurlCode.BadFunctionArgument when _headState == HeadState.Fields:
                // libcurl: "Header without colon", "Nul byte in header", and "A libcurl function was
                // given a bad argument" for a continuation line right after the status line.
                return new HttpProtocolError($"Malformed HTTP header line ({curl})");

            case CurlCode.WeirdServerReply or CurlCode.UnsupportedProtocol or CurlCode.Http2:
                return new HttpProtocolError($"Malformed HTTP response ({curl})");

            case CurlCode.ReceiveError when curl.Contains("Malformed encoding", StringComparison.Ordinal):
                // libcurl: "Malformed encoding found in chunked-encoding": no CRLF after a chunk's data.
                return new HttpProtocolError($"Malformed chunked body: chunk data not followed by CRLF ({curl})");

            case CurlCode.ReceiveError when curl.Contains("chunk", StringComparison.OrdinalIgnoreCase):
                // libcurl: "Illegal or missing hexadecimal sequence in chunked-encoding" and the like.
                return new HttpProtocolError($"Invalid chunk size ({curl})");

            case CurlCode.BadFunctionArgument when _headState == HeadState.Ended && curl.Contains("chunked-encoded stream", StringComparison.Ordinal):
                // libcurl: "Failed reading the chunked-encoded stream", its header store refusing a
                // trailer line without a colon. libcurl 7.88 reads a chunk size up to its first
                // non-hex character and skips the rest as an extension, so `0x2` is a last chunk
                // (size 0) and the data after it trailers: an invalid chunk size to the simple client.
                return new HttpProtocolError($"Invalid chunk size or trailer line in the chunked body ({curl})");

            case CurlCode.OutOfMemory or CurlCode.TooLarge when _headState != HeadState.Ended:
                // libcurl keeps a header line to at most 100 KB and says "Out of memory" past it.
                return new HttpProtocolError($"A response header line is longer than libcurl accepts ({curl})");

            case CurlCode.BadContentEncoding:
                return new HttpContentDecodingError(_headers.TryGetValue("Content-Encoding", out string? encoding) ? encoding : string.Empty, $"Malformed compressed body ({curl})");

            case CurlCode.FileSizeExceeded:
                return new HttpBodyTooLargeError(_client.MaxBodySize);

            default:
                // GOT_NOTHING, PARTIAL_FILE, RECV_ERROR, SEND_ERROR, HTTP2_STREAM and whatever else ends
                // a transfer midway: the connection ended before the response did.
                return StreamClosed(curl);
        }
    }

    /// <summary>The connection ended before the response did: how much had come, as the simple client says it.</summary>
    private HttpStreamClosedError StreamClosed(string curl)
    {
        long head = LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.HeaderSize, out CLong headerSize) == 0 ? headerSize.Value : 0;
        long body = LibCurl.curl_easy_getinfo_offt(Handle, CurlInfo.SizeDownloadT, out long downloaded) == 0 ? downloaded : 0;
        long received = head + body;
        string what = _headState == HeadState.Ended && _contentLength >= 0
            ? $"after {body} of {_contentLength} body bytes"
            : received == 0 ? "before any response byte" : $"after {received} bytes of the response";
        return new HttpStreamClosedError($"Stream closed {what}: {curl}", new IOException(curl), received);
    }

    /// <summary>Whether the connection (and its TLS handshake, for https) was made: a timeout after it is in the request phase.</summary>
    private bool IsConnected()
    {
        int info = IsHttps() ? CurlInfo.AppConnectTime : CurlInfo.ConnectTime;
        return LibCurl.curl_easy_getinfo_double(Handle, info, out double seconds) == 0 && seconds > 0;
    }

    /// <summary>Whether curl's current URL is https: the request's own answer while curl is still at the request's URL (no string, no parse: asked once per request, before it goes out).</summary>
    private unsafe bool IsHttps()
    {
        if (LibCurl.curl_easy_getinfo_ptr(Handle, CurlInfo.EffectiveUrl, out nint url) == 0 && url != 0
            && HttpSyntax.Latin1Equals(MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)url), _request.Url))
        {
            return _fetch.Url.IsHttps;
        }

        return CurrentUrl()?.IsHttps ?? _fetch.Url.IsHttps;
    }

    /// <summary>The URL curl was fetching when it failed (after redirects, the last one).</summary>
    private RequestUrl? CurrentUrl() =>
        LibCurl.curl_easy_getinfo_ptr(Handle, CurlInfo.EffectiveUrl, out nint url) == 0 && url != 0 && Marshal.PtrToStringUTF8(url) is { } text
            ? RequestUrl.Parse(text)
            : null;

    /// <summary>The host and port a connection was being made to: the proxy's, or the URL's.</summary>
    private (string Host, int Port) Target(bool proxy)
    {
        if (proxy && _request.ProxyHost is { } proxyHost)
        {
            return (proxyHost, _request.ProxyPort ?? SimpleAsyncHttpClient.DefaultProxyPort);
        }

        RequestUrl url = CurrentUrl() ?? _fetch.Url;
        return (url.Host, url.Port);
    }

    private int OsErrno() => LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.OsErrno, out CLong errno) == 0 ? (int)errno.Value : 0;

    /// <summary>The socket error for a Linux errno of a failed connect, so callers see the same exception as from the simple client.</summary>
    private static SocketException SocketErrorFor(int errno) => new((int)(errno switch
    {
        111 => SocketError.ConnectionRefused,
        110 => SocketError.TimedOut,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        104 => SocketError.ConnectionReset,
        _ => SocketError.SocketError,
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

    /// <summary>
    /// A redirect curl would not follow: too many of them, or a Location it cannot fetch (another
    /// scheme, a malformed URL). The last 3xx is the response, as from the simple client.
    /// </summary>
    private bool IsUnfollowedRedirect(int result) =>
        result == CurlCode.TooManyRedirects
        || (result is CurlCode.UnsupportedProtocol or CurlCode.UrlMalformat or CurlCode.BadFunctionArgument
            && _headState == HeadState.Ended && _statusCode is >= 300 and < 400 && _headers.Contains("Location")
            && Easy.ErrorMessage()?.Contains("HTTP/0.9", StringComparison.Ordinal) != true);
}
