using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

/// <summary>Options: the request turned into CURLOPT_* values on the easy handle.</summary>
internal sealed partial class CurlTransfer
{
    /// <summary>Sets every option of the request on the (freshly reset) easy handle, with a receive buffer of <paramref name="receiveBuffer"/> bytes (0: libcurl's default).</summary>
    public unsafe void Configure(int receiveBuffer)
    {
        HttpRequest request = _request;
        nint self = GCHandle.ToIntPtr(_self);
        SetPointer(CurlOpt.ErrorBuffer, (nint)Easy.ErrorBuffer);
        Easy.ErrorBuffer[0] = 0;
        SetPointer(CurlOpt.Private, self);
        SetLong(CurlOpt.NoSignal, 1);
        SetString(CurlOpt.Url, request.Url);
        SetPointer(CurlOpt.WriteFunction, (nint)(delegate* unmanaged[Cdecl]<byte*, nuint, nuint, nint, nuint>)&WriteCallback);
        SetPointer(CurlOpt.WriteData, self);
        SetPointer(CurlOpt.HeaderFunction, (nint)(delegate* unmanaged[Cdecl]<byte*, nuint, nuint, nint, nuint>)&HeaderCallback);
        SetPointer(CurlOpt.HeaderData, self);
        // The debug callback logs (at Trace level) and counts the body bytes curl reads, which
        // bounds what libcurl skips without a limit of its own in a chunked body
        // (CurlTransfer.Body.cs). Verbose costs libcurl a formatted message and a callback for
        // every step and header line, so it is on from the start only to log; otherwise the end
        // of a chunked response's head turns it on (EnableVerbose).
        _logDebug = _client.Logger.IsEnabled(LogLevel.Trace);
        _verbose = _logDebug;
        SetPointer(CurlOpt.DebugFunction, (nint)(delegate* unmanaged[Cdecl]<nint, int, byte*, nuint, nint, int>)&DebugCallback);
        SetPointer(CurlOpt.DebugData, self);
        if (_verbose)
        {
            SetLong(CurlOpt.Verbose, 1);
        }

        // The client's idle-connection limit (libcurl's own is 118 s), or no reuse at all.
        // CURLOPT_MAXAGE_CONN came with libcurl 7.65.0: an older one keeps its own limit.
        if (_client.MaxIdleSeconds > 0)
        {
            _ = LibCurl.curl_easy_setopt_long(Handle, CurlOpt.MaxAgeConn, new CLong(checked((nint)_client.MaxIdleSeconds)));
        }
        else
        {
            SetLong(CurlOpt.ForbidReuse, 1);
        }

        // The client's choice (curl's default is 16 KiB): a larger one while bodies are large,
        // for fewer reads and write callbacks per body; a smaller one with thousands of small
        // responses at once, for less memory per connection.
        if (receiveBuffer > 0)
        {
            _ = LibCurl.curl_easy_setopt_long(Handle, CurlOpt.BufferSize, new CLong(receiveBuffer));
        }

        // Redirects: only to http and https (libcurl's own default allows more).
        SetLong(CurlOpt.FollowLocation, request.FollowRedirects == true ? 1 : 0);
        SetLong(CurlOpt.MaxRedirs, request.MaxRedirects ?? HttpFetchOptions.DefaultMaxRedirects);
        if (SetStringOptional(CurlOpt.RedirProtocolsString, "http,https") != 0)
        {
            SetLong(CurlOpt.RedirProtocols, CurlFlags.ProtocolHttp | CurlFlags.ProtocolHttps);
        }

        // Timeouts: the connect one, and what is left of the request one after the queue.
        TimeSpan connect = request.ConnectTimeout!.Value;
        if (connect > TimeSpan.Zero)
        {
            SetLong(CurlOpt.ConnectTimeoutMs, Math.Max(1, (long)connect.TotalMilliseconds));
        }

        if (!double.IsPositiveInfinity(_fetch.Deadline))
        {
            SetLong(CurlOpt.TimeoutMs, Math.Max(1, (long)((_fetch.Deadline - _client.Loop.Time()) * 1000)));
        }

        SetString(CurlOpt.UserAgent, request.UserAgent ?? request.HeadersOrNull?.Get("User-Agent") ?? SimpleAsyncHttpClient.DefaultUserAgent);
        // We undo content codings ourselves (CurlTransfer.Body.cs): curl's decoder took a
        // truncated gzip body for a whole one and failed on a valid multi-member one. With
        // DecompressResponse the Accept-Encoding header goes in with the others.
        SetLong(CurlOpt.HttpContentDecoding, 0);

        // Before the request goes out on a connection: one with bytes already waiting is not
        // used (see OnConnectionChosen). libcurl before 7.80 has no such callback.
        if (LibCurl.curl_easy_setopt_ptr(Handle, CurlOpt.PrereqFunction, (nint)(delegate* unmanaged[Cdecl]<nint, byte*, byte*, int, int, int>)&PrereqCallback) == 0)
        {
            SetPointer(CurlOpt.PrereqData, self);
        }

        // curl's connection sockets are opened and closed by the client, which so knows when one
        // ends (CurlAsyncHttpClient.Sockets.cs). The client's handle, not this transfer's: a
        // connection keeps the callbacks of the transfer that made it for as long as it lives.
        SetPointer(CurlOpt.OpenSocketFunction, CurlAsyncHttpClient.OpenSocketFunction);
        SetPointer(CurlOpt.OpenSocketData, _client.NativeSelf);
        SetPointer(CurlOpt.CloseSocketFunction, CurlAsyncHttpClient.CloseSocketFunction);
        SetPointer(CurlOpt.CloseSocketData, _client.NativeSelf);

        // The progress callback bounds the bodies curl drains without handing them over. It is
        // set here and turned on by the head that needs it (EnableProgress): off, as curl's
        // default is, until then.
        SetPointer(CurlOpt.XferInfoFunction, (nint)(delegate* unmanaged[Cdecl]<nint, long, long, long, long, int>)&ProgressCallback);
        SetPointer(CurlOpt.XferInfoData, self);

        if (request.NetworkInterface is { } networkInterface)
        {
            SetString(CurlOpt.Interface, networkInterface);
        }

        if (request.AllowIpv6 == false)
        {
            SetLong(CurlOpt.IpResolve, CurlFlags.IpResolveV4);
        }

        if (request.HttpVersion is { } version)
        {
            // HTTP/2 where ALPN offers it, 1.1 in clear text.
            SetLong(CurlOpt.HttpVersion, version.Major == 2 ? CurlFlags.HttpVersion2Tls : version.Minor == 0 ? CurlFlags.HttpVersion10 : CurlFlags.HttpVersion11);
        }

        ConfigureTls(request);
        ConfigureProxy(request);
        ConfigureAuth(request);
        ConfigureMethodAndBody(request);
        ConfigureHeaders(request);
        if (request.PrepareCurlCallback is { } prepare)
        {
            prepare(new CurlHandle(Handle));
        }
    }

    private void ConfigureTls(HttpRequest request)
    {
        bool validate = request.ValidateCert != false;
        SetLong(CurlOpt.SslVerifyPeer, validate ? 1 : 0);
        SetLong(CurlOpt.SslVerifyHost, validate ? 2 : 0);
        if (request.CaCerts is { } ca)
        {
            SetString(CurlOpt.CaInfo, ca);
        }

        if (request.ClientCert is { } cert)
        {
            SetString(CurlOpt.SslCert, cert);
        }

        if (request.ClientKey is { } key)
        {
            SetString(CurlOpt.SslKey, key);
        }
    }

    private void ConfigureProxy(HttpRequest request)
    {
        if (request.ProxyHost is not { } host)
        {
            // Not the environment's http_proxy either, as Tornado does.
            SetString(CurlOpt.Proxy, string.Empty);
            return;
        }

        SetString(CurlOpt.Proxy, host);
        SetLong(CurlOpt.ProxyPort, request.ProxyPort ?? SimpleAsyncHttpClient.DefaultProxyPort);
        if (request.ProxyUsername is { } user)
        {
            SetString(CurlOpt.ProxyUserPassword, $"{user}:{request.ProxyPassword}");
            SetLong(CurlOpt.ProxyAuth, request.ProxyAuthMode == HttpAuthMode.Digest ? CurlFlags.AuthDigest : CurlFlags.AuthBasic);
        }
    }

    private void ConfigureAuth(HttpRequest request)
    {
        if (request.AuthUsername is { } user)
        {
            // The same bytes the simple client sends: UTF-8 after NFC normalisation (RFC 7617).
            SetString(CurlOpt.UserPassword, $"{user.Normalize(NormalizationForm.FormC)}:{(request.AuthPassword ?? string.Empty).Normalize(NormalizationForm.FormC)}");
            SetLong(CurlOpt.HttpAuth, request.AuthMode == HttpAuthMode.Digest ? CurlFlags.AuthDigest : CurlFlags.AuthBasic);
        }
    }

    private unsafe void ConfigureMethodAndBody(HttpRequest request)
    {
        string method = request.Method;
        switch (method)
        {
            case "GET":
                SetLong(CurlOpt.HttpGet, 1);
                break;
            case "POST":
                SetLong(CurlOpt.Post, 1);
                break;
            case "PUT":
                SetLong(CurlOpt.Upload, 1);
                break;
            case "HEAD":
                SetLong(CurlOpt.NoBody, 1);
                break;
            default:
                SetString(CurlOpt.CustomRequest, method);
                break;
        }

        bool hasBody = request.Body is not null || request.BodyProducer is not null;
        if (!hasBody && method is not ("POST" or "PUT"))
        {
            return;
        }

        long length = request.Body?.Length ?? (request.BodyProducer is null ? 0 : DeclaredLength(request));
        SetPointer(CurlOpt.ReadFunction, (nint)(delegate* unmanaged[Cdecl]<byte*, nuint, nuint, nint, nuint>)&ReadCallback);
        SetPointer(CurlOpt.ReadData, GCHandle.ToIntPtr(_self));
        SetPointer(CurlOpt.SeekFunction, (nint)(delegate* unmanaged[Cdecl]<nint, long, int, int>)&SeekCallback);
        SetPointer(CurlOpt.SeekData, GCHandle.ToIntPtr(_self));
        if (method == "POST")
        {
            // -1: unknown, sent chunked.
            SetOffT(CurlOpt.PostFieldSizeLarge, length);
        }
        else
        {
            if (method != "PUT")
            {
                // A body on another method: upload it under that method's name (UPLOAD alone means PUT).
                SetLong(CurlOpt.Upload, 1);
                SetString(CurlOpt.CustomRequest, method);
            }

            SetOffT(CurlOpt.InFileSizeLarge, length);
        }
    }

    private static long DeclaredLength(HttpRequest request) =>
        request.HeadersOrNull?.TryGetValue("Content-Length", out string? value) == true && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : -1;

    private void ConfigureHeaders(HttpRequest request)
    {
        bool expect = request.Expect100Continue == true && (request.Body is not null || request.BodyProducer is not null);
        if (request.HeadersOrNull is null or { Count: 0 } && request.IfModifiedSince is null)
        {
            // Only the client's own lines, which depend on three things: one list per client for
            // each combination, kept until it closes (curl only reads the list).
            SetPointer(CurlOpt.HttpHeader, _client.SharedHeaderList(expect, request.DecompressResponse == true, request.Method == "POST" && request.Body is not null));
            return;
        }

        var list = new CurlStringList();
        _headerList = list;
        AppendHeaders(list, request, expect);
        SetPointer(CurlOpt.HttpHeader, list.DangerousGetHandle());
    }

    /// <summary>
    /// The lines the client adds: curl's own defaults that Tornado removes (an Expect it was not
    /// asked for, and Pragma), the codings ContentDecoder undoes as the simple client asks for
    /// them, and a form's content type.
    /// </summary>
    internal static void AppendOwnLines(CurlStringList list, bool expect, bool acceptEncoding, bool formContentType)
    {
        list.Append(expect ? "Expect: 100-continue" : "Expect:");
        list.Append("Pragma:");
        if (acceptEncoding)
        {
            list.Append("Accept-Encoding: gzip, deflate, br");
        }

        if (formContentType)
        {
            list.Append("Content-Type: application/x-www-form-urlencoded");
        }
    }

    /// <summary>The request's header lines for curl, after the fields curl writes itself (the user agent, the length).</summary>
    private static void AppendHeaders(CurlStringList list, HttpRequest request, bool expect)
    {
        if (request.HeadersOrNull is { } headers)
        {
            foreach (KeyValuePair<string, string> field in headers)
            {
                if (field.Key.Equals("User-Agent", StringComparison.OrdinalIgnoreCase))
                {
                    continue; // Set as CURLOPT_USERAGENT.
                }

                if (field.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    // curl writes its own from the sizes given it.
                    continue;
                }

                list.Append(field.Value.Length == 0 ? field.Key + ";" : $"{field.Key}: {field.Value}");
            }
        }

        AppendOwnLines(
            list,
            expect,
            acceptEncoding: request.DecompressResponse == true && request.HeadersOrNull?.Contains("Accept-Encoding") != true,
            formContentType: request.Method == "POST" && request.Body is not null && request.HeadersOrNull?.Contains("Content-Type") != true);

        if (request.IfModifiedSince is { } since)
        {
            list.Append("If-Modified-Since: " + HttpSyntax.FormatDate(since));
        }
    }

    /// <summary>The receive buffer asked for while bodies are large: libcurl's largest (CURL_MAX_READ_SIZE).</summary>
    internal const int LargeReceiveBuffer = 512 * 1024;

    private void SetLong(int option, long value) => Check(LibCurl.curl_easy_setopt_long(Handle, option, new CLong(checked((nint)value))), option);

    private void SetOffT(int option, long value) => Check(LibCurl.curl_easy_setopt_offt(Handle, option, value), option);

    private void SetPointer(int option, nint value) => Check(LibCurl.curl_easy_setopt_ptr(Handle, option, value), option);

    private void SetString(int option, string value) => Check(SetStringOptional(option, value), option);

    /// <summary>Sets a string option (libcurl copies it) and returns curl's code, for options an old libcurl may lack.</summary>
    private int SetStringOptional(int option, string value)
    {
        nint text = Marshal.StringToCoTaskMemUTF8(value);
        try
        {
            return LibCurl.curl_easy_setopt_ptr(Handle, option, text);
        }
        finally
        {
            Marshal.FreeCoTaskMem(text);
        }
    }

    private static void Check(int code, int option)
    {
        if (code != 0)
        {
            // Not the server's doing: the base class reports it as the fetch's cause.
            throw new InvalidOperationException($"curl_easy_setopt({option}) failed: {LibCurl.ErrorText(code)}");
        }
    }
}
