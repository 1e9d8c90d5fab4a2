using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

/// <summary>
/// One request on one easy handle: the options set from the request, the callbacks libcurl
/// calls (body, headers, upload, seek, debug), and the response or error built when curl says
/// the transfer is done. Found by the callbacks through a <see cref="GCHandle"/> given to curl
/// as their user data.
/// </summary>
internal sealed class CurlTransfer
{
    private readonly CurlAsyncHttpClient _client;
    private readonly FetchState _fetch;
    private readonly HttpRequest _request;
    private GCHandle _self;
    private CurlStringList? _headerList;
    private CancellationTokenRegistration _cancellation;
    private Exception? _callbackError;
    private object? _outcome;

    // The response as it comes: the headers of the latest status line (a redirect or a 1xx starts again).
    private HttpHeaders _headers = new();
    private string _reason = string.Empty;
    private int _headerBytes;
    private byte[]? _body;
    private int _bodyLength;
    private long _bodyBytes;
    private byte[]? _chunk;
    private bool _writePaused;
    private bool _asyncPending;

    // The upload: the request's body, or what the body producer has written and curl has not read.
    private int _uploadOffset;
    private readonly Queue<byte[]> _produced = new();
    private byte[]? _current;
    private int _currentOffset;
    private bool _producerDone;
    private bool _readPaused;
    private TaskCompletionSource? _drained;

    public CurlTransfer(CurlAsyncHttpClient client, FetchState fetch, CurlEasyHandle easy)
    {
        _client = client;
        _fetch = fetch;
        _request = fetch.Request;
        Easy = easy;
        _self = GCHandle.Alloc(this);
    }

    public CurlEasyHandle Easy { get; }

    /// <summary>Completes (on the loop thread) with the response, or fails with the request's error.</summary>
    public TaskCompletionSource<HttpResponse> Completion { get; } = new();

    private nint Handle => Easy.DangerousGetHandle();

    /// <summary>Sets every option of the request on the (freshly reset) easy handle.</summary>
    public unsafe void Configure()
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
        if (_client.Logger.IsEnabled(LogLevel.Debug))
        {
            SetLong(CurlOpt.Verbose, 1);
            SetPointer(CurlOpt.DebugFunction, (nint)(delegate* unmanaged[Cdecl]<nint, int, byte*, nuint, nint, int>)&DebugCallback);
            SetPointer(CurlOpt.DebugData, self);
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
        if (request.DecompressResponse == true)
        {
            // Empty: every encoding this libcurl can decode.
            SetString(CurlOpt.AcceptEncoding, string.Empty);
        }
        else
        {
            SetLong(CurlOpt.HttpContentDecoding, 0);
        }

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
        var list = new CurlStringList();
        _headerList = list;
        bool expect = request.Expect100Continue == true && (request.Body is not null || request.BodyProducer is not null);
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

        // curl's own defaults that Tornado removes: an Expect it was not asked for, and Pragma.
        list.Append(expect ? "Expect: 100-continue" : "Expect:");
        list.Append("Pragma:");
        if (request.Method == "POST" && request.Body is not null && request.HeadersOrNull?.Contains("Content-Type") != true)
        {
            list.Append("Content-Type: application/x-www-form-urlencoded");
        }

        if (request.IfModifiedSince is { } since)
        {
            list.Append("If-Modified-Since: " + HttpSyntax.FormatDate(since));
        }

        SetPointer(CurlOpt.HttpHeader, list.DangerousGetHandle());
    }

    /// <summary>The transfer is in curl's hands: watch for cancellation and start the body producer.</summary>
    public void Begin()
    {
        if (_fetch.CancellationToken.CanBeCanceled)
        {
            _cancellation = _fetch.CancellationToken.UnsafeRegister(
                static state =>
                {
                    var transfer = (CurlTransfer)state!;
                    transfer._client.Loop.AddCallback(static s =>
                    {
                        var t = (CurlTransfer)s!;
                        t._client.Abort(t, new OperationCanceledException(t._fetch.CancellationToken));
                    }, transfer);
                },
                this);
        }

        if (_request.BodyProducer is { } producer)
        {
            _ = ProduceAsync(producer);
        }
    }

    private async Task ProduceAsync(Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task> producer)
    {
        try
        {
            await producer(WriteProducedAsync).ConfigureAwait(true);
        }
        catch (Exception e)
        {
            SetCallbackError(e);
            _client.Abort(this, e);
            return;
        }

        _producerDone = true;
        WakeReader();
    }

    private ValueTask WriteProducedAsync(ReadOnlyMemory<byte> data)
    {
        if (Completion.Task.IsCompleted)
        {
            return ValueTask.FromException(new HttpStreamClosedError("The request ended before its body was sent"));
        }

        if (data.IsEmpty)
        {
            return default;
        }

        // The producer may reuse its buffer once this returns: keep a copy until curl reads it.
        _produced.Enqueue(data.ToArray());
        WakeReader();
        _drained ??= new TaskCompletionSource();
        return new ValueTask(_drained.Task);
    }

    private void WakeReader()
    {
        if (_readPaused)
        {
            _readPaused = false;
            _client.Resume(this);
        }
    }

    /// <summary>curl reported the transfer done with <paramref name="result"/> (a CURLcode).</summary>
    public void Complete(int result)
    {
        if (_callbackError is not null)
        {
            Finish(_callbackError);
            return;
        }

        if (result != 0)
        {
            Finish(ErrorFor(result));
            return;
        }

        _ = LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.ResponseCode, out CLong code);
        if (code.Value == 0)
        {
            Finish(new HttpClientError(599, "No response was received"));
            return;
        }

        string effectiveUrl = LibCurl.curl_easy_getinfo_ptr(Handle, CurlInfo.EffectiveUrl, out nint url) == 0 && url != 0
            ? Marshal.PtrToStringUTF8(url) ?? _request.Url
            : _request.Url;
        FetchTimes times = FillTimes();
        if (_request.DecompressResponse == true && _headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            // curl decoded the body: say so as the simple client does.
            _headers.Add("X-Consumed-Content-Encoding", encoding);
            _headers.Remove("Content-Encoding");
        }

        byte[] body = _request.StreamingCallback is null && _request.AsyncStreamingCallback is null && _body is not null
            ? _body.AsSpan(0, _bodyLength).ToArray()
            : [];
        var response = new HttpResponse(
            _fetch.Original,
            (int)code.Value,
            _reason.Length > 0 ? _reason : null,
            _headers,
            body,
            effectiveUrl,
            requestTime: _fetch.Elapsed(),
            startTime: _fetch.StartTime,
            timeInfo: times);
        Release();
        _outcome = response;
    }

    /// <summary>Ends the transfer with <paramref name="error"/>.</summary>
    public void Finish(Exception error)
    {
        FillTimes();
        Release();

        _outcome = error;
    }

    /// <summary>
    /// Completes the caller's task with what <see cref="Complete"/> or <see cref="Finish"/> made.
    /// Called once the easy handle is back in the pool: the caller's continuation runs inline.
    /// </summary>
    public void Deliver()
    {
        if (_outcome is HttpResponse response)
        {
            Completion.TrySetResult(response);
        }
        else
        {
            // A cancellation too travels as the exception itself, as from the simple client.
            Completion.TrySetException((Exception)_outcome!);
        }
    }

    /// <summary>An exception from one of our callbacks, reported instead of curl's own error for it.</summary>
    public void SetCallbackError(Exception error) => _callbackError ??= error;

    /// <summary>Frees what the transfer holds (the header list, the handle to this object, pooled buffers).</summary>
    public void Release()
    {
        _cancellation.Dispose();
        _headerList?.Dispose();
        _headerList = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }

        if (_body is not null)
        {
            ArrayPool<byte>.Shared.Return(_body);
            _body = null;
        }

        if (_chunk is not null)
        {
            ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = null;
        }

        _drained?.TrySetException(new HttpStreamClosedError("The request ended before its body was sent"));
        _drained = null;
    }

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

    private FetchTimes FillTimes()
    {
        FetchTimes times = _fetch.Times;
        Set(FetchTimes.NameLookup, CurlInfo.NameLookupTime);
        Set(FetchTimes.Connect, CurlInfo.ConnectTime);
        Set(FetchTimes.AppConnect, CurlInfo.AppConnectTime);
        Set(FetchTimes.PreTransfer, CurlInfo.PreTransferTime);
        Set(FetchTimes.StartTransfer, CurlInfo.StartTransferTime);
        Set(FetchTimes.Total, CurlInfo.TotalTime);
        Set(FetchTimes.Redirect, CurlInfo.RedirectTime, onlyIfSpent: true);
        return times;

        void Set(int phase, int info, bool onlyIfSpent = false)
        {
            if (LibCurl.curl_easy_getinfo_double(Handle, info, out double seconds) == 0 && (seconds > 0 || !onlyIfSpent))
            {
                times.Set(phase, TimeSpan.FromSeconds(seconds));
            }
        }
    }

    private nuint OnBody(ReadOnlySpan<byte> data)
    {
        if (_asyncPending)
        {
            // curl keeps the data and gives it again once resumed.
            _writePaused = true;
            return CurlFlags.WritePause;
        }

        _bodyBytes += data.Length;
        if (_bodyBytes > _client.MaxBodySize)
        {
            throw new HttpProtocolError($"Body larger than the limit of {_client.MaxBodySize} bytes");
        }

        if (_request.StreamingCallback is { } streaming)
        {
            streaming(Copy(data));
        }
        else if (_request.AsyncStreamingCallback is { } asyncStreaming)
        {
            ValueTask pending = asyncStreaming(Copy(data));
            if (!pending.IsCompletedSuccessfully)
            {
                _asyncPending = true;
                _ = AwaitStreamingAsync(pending);
            }
        }
        else
        {
            Append(data);
        }

        return (nuint)data.Length;
    }

    private async Task AwaitStreamingAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(true);
        }
        catch (Exception e)
        {
            SetCallbackError(e);
            _client.Abort(this, e);
            return;
        }

        _asyncPending = false;
        if (_writePaused)
        {
            _writePaused = false;
            _client.Resume(this);
        }
    }

    /// <summary>A managed copy of a chunk for a streaming callback (the buffer is reused for the next chunk).</summary>
    private ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> data)
    {
        if (_chunk is null || _chunk.Length < data.Length || _asyncPending)
        {
            if (_chunk is not null)
            {
                ArrayPool<byte>.Shared.Return(_chunk);
            }

            _chunk = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 16 * 1024));
        }

        data.CopyTo(_chunk);
        return _chunk.AsMemory(0, data.Length);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_body is null || _body.Length - _bodyLength < data.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_bodyLength + data.Length, Math.Max(4096, (_body?.Length ?? 0) * 2)));
            if (_body is not null)
            {
                _body.AsSpan(0, _bodyLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_body);
            }

            _body = larger;
        }

        data.CopyTo(_body.AsSpan(_bodyLength));
        _bodyLength += data.Length;
    }

    private void OnHeaderLine(ReadOnlySpan<byte> bytes)
    {
        string line = Encoding.Latin1.GetString(bytes);
        _request.HeaderCallback?.Invoke(line);
        if (line.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            // A new response (after a 1xx, or a redirect that curl follows): its headers only.
            _headers = new HttpHeaders();
            _headerBytes = 0;
            string[] parts = line.TrimEnd('\r', '\n').Split(' ', 3);
            _reason = parts.Length == 3 ? parts[2] : string.Empty;
            return;
        }

        _headerBytes += bytes.Length;
        if (_headerBytes > _client.MaxHeaderSize)
        {
            throw new HttpProtocolError($"Response headers are larger than MaxHeaderSize ({_client.MaxHeaderSize} bytes)");
        }

        if (line is "\r\n" or "\n")
        {
            return;
        }

        try
        {
            // The same rules as the simple client's parser: a token name, no control characters.
            _headers.ParseLine(line.EndsWith("\r\n", StringComparison.Ordinal) ? line[..^2] : line.TrimEnd('\n'));
        }
        catch (FormatException e)
        {
            throw new HttpProtocolError($"Malformed HTTP header line: {line.TrimEnd('\r', '\n')} ({e.Message})");
        }
    }

    private nuint OnRead(Span<byte> buffer)
    {
        if (_request.Body is { } body)
        {
            int n = Math.Min(buffer.Length, body.Length - _uploadOffset);
            body.AsSpan(_uploadOffset, n).CopyTo(buffer);
            _uploadOffset += n;
            return (nuint)n;
        }

        int written = 0;
        while (written < buffer.Length)
        {
            if (_current is null && !_produced.TryDequeue(out _current))
            {
                break;
            }

            int n = Math.Min(buffer.Length - written, _current.Length - _currentOffset);
            _current.AsSpan(_currentOffset, n).CopyTo(buffer[written..]);
            written += n;
            _currentOffset += n;
            if (_currentOffset == _current.Length)
            {
                _current = null;
                _currentOffset = 0;
            }
        }

        if (_current is null && _produced.Count == 0 && _drained is { } drained)
        {
            // Everything written so far is in curl's hands: the producer may go on.
            _drained = null;
            _client.Loop.AddCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), drained);
        }

        if (written > 0)
        {
            return (nuint)written;
        }

        if (_producerDone || _request.BodyProducer is null)
        {
            return 0; // The end of the body.
        }

        _readPaused = true;
        return CurlFlags.ReadPause;
    }

    private int OnSeek(long offset, int origin)
    {
        if (_request.Body is null || origin != 0 || offset < 0 || offset > _request.Body.Length)
        {
            return CurlFlags.SeekCantSeek;
        }

        // curl sends the body again (digest authentication, a redirect that keeps it).
        _uploadOffset = (int)offset;
        return CurlFlags.SeekOk;
    }

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
            throw new HttpClientError(599, $"curl_easy_setopt({option}) failed: {LibCurl.ErrorText(code)}");
        }
    }

    private static CurlTransfer? From(nint userData) => userData == 0 ? null : GCHandle.FromIntPtr(userData).Target as CurlTransfer;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint WriteCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            return transfer.OnBody(new ReadOnlySpan<byte>(data, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            // Returning less than given makes curl end the transfer with CURLE_WRITE_ERROR.
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint HeaderCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        int length = checked((int)(size * count));
        try
        {
            transfer.OnHeaderLine(new ReadOnlySpan<byte>(data, length));
            return (nuint)length;
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint ReadCallback(byte* buffer, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.ReadAbort;
        }

        try
        {
            return transfer.OnRead(new Span<byte>(buffer, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.ReadAbort;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int SeekCallback(nint userData, long offset, int origin)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.SeekCantSeek;
        }

        try
        {
            return transfer.OnSeek(offset, origin);
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.SeekCantSeek;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int DebugCallback(nint easy, int kind, byte* data, nuint size, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            // 0: curl's own text; 1 and 2: header lines in and out (Tornado's debug log).
            if (kind is 0 or 1 or 2)
            {
                string text = Encoding.Latin1.GetString(data, checked((int)size)).TrimEnd('\r', '\n');
                transfer._client.Logger.LogDebug("curl {Kind} {Text}", kind switch { 0 => "*", 1 => "<", _ => ">" }, text);
            }
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
        }

        return 0;
    }
}
