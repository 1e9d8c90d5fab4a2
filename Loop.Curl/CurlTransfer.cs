using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Loop.Curl.Native;
using Loop.Http;

namespace Loop.Curl;

/// <summary>
/// One request on one easy handle, from <see cref="Configure"/> to <see cref="Deliver"/>. Found
/// by the native callbacks through a <see cref="GCHandle"/> given to curl as their user data.
/// The parts: this file, the lifecycle (begin, complete or finish, deliver, release);
/// <c>.Options.cs</c>, the request as CURLOPT_* values; <c>.Callbacks.cs</c>, the native entry
/// points and the upload; <c>.Head.cs</c>, the status line and fields with the framing rules;
/// <c>.Body.cs</c>, decoding, the body limit and streaming; <c>.Errors.cs</c>, CURLcode to
/// typed error. The client aborts or completes a transfer by its identity, never by the easy
/// handle, which the next transfer reuses; the object itself is pooled by the client and bound
/// to a new request (<see cref="Bind"/>) only when nothing of the old one can reach it any more
/// (<see cref="Reusable"/>), and what is posted to the loop for it names its
/// <see cref="Serial"/>.
/// </summary>
internal sealed partial class CurlTransfer : IValueTaskSource<HttpResponse>
{
    private readonly CurlAsyncHttpClient _client;
    private FetchState _fetch = null!;

    /// <summary>The fetch this transfer runs (while it runs).</summary>
    public FetchState Fetch => _fetch;
    private HttpRequest _request = null!;
    private GCHandle _self;
    private CurlStringList? _headerList;
    private CancellationTokenRegistration _cancellation;
    private Exception? _callbackError;
    private object? _outcome;

    // The caller's result: completed once, by Deliver, on the loop thread, which runs the
    // caller's continuation inline (no Task, no posted continuation).
    private ManualResetValueTaskSourceCore<HttpResponse> _completion;
    private bool _delivered;
    private bool _resultTaken;

    // A cancellation callback is registered; one that could not be unregistered may still run
    // (and post an abort naming this object), so the object is not reused.
    private bool _registered;
    private bool _cancellationMayRun;
    private static long s_serials;
    private bool _staleConnection;
    private bool _freshConnection;

    // The upload: the request's body, or what the body producer has written and curl has not read.
    private int _uploadOffset;
    private Queue<byte[]>? _produced;
    private byte[]? _current;
    private int _currentOffset;
    private bool _producerDone;
    private bool _readPaused;
    private TaskCompletionSource? _drained;

    /// <summary>Creates an unbound transfer of <paramref name="client"/>: <see cref="Bind"/> gives it its request.</summary>
    public CurlTransfer(CurlAsyncHttpClient client) => _client = client;

    /// <summary>The easy handle of the bound request; null while the object waits in the client's pool.</summary>
    public CurlEasyHandle Easy { get; private set; } = null!;

    /// <summary>The client's multi handle running this transfer; null when it runs in none.</summary>
    public CurlMulti? Multi { get; set; }

    /// <summary>This transfer's number, unique in the process (from 1), new with every <see cref="Bind"/>.</summary>
    public long Serial { get; private set; }

    /// <summary>
    /// Whether the object may carry another request now that this one is delivered: the caller
    /// took the result, and nothing else can still reach it (no cancellation callback that
    /// failed to unregister, no body producer or async streaming callback that may run on).
    /// </summary>
    public bool Reusable =>
        _delivered && _resultTaken && !_cancellationMayRun && !_self.IsAllocated
        && _request.BodyProducer is null && _request.AsyncStreamingCallback is null;

    /// <summary>Makes this (new or reusable) object the transfer of <paramref name="fetch"/> on <paramref name="easy"/>, every per-request field as new.</summary>
    public void Bind(FetchState fetch, CurlEasyHandle easy)
    {
        _fetch = fetch;
        _request = fetch.Request;
        Easy = easy;
        Serial = Interlocked.Increment(ref s_serials);
        _self = GCHandle.Alloc(this);
        _headerList = null;
        _cancellation = default;
        _registered = false;
        _cancellationMayRun = false;
        _callbackError = null;
        _outcome = null;
        _completion.Reset();
        _delivered = false;
        _resultTaken = false;
        _staleConnection = false;
        _freshConnection = false;
        _uploadOffset = 0;
        _produced = null;
        _current = null;
        _currentOffset = 0;
        _producerDone = false;
        _readPaused = false;
        _drained = null;
        ResetHead();
        ResetBody();
    }

    /// <summary>Drops the references to the delivered request, before the object waits in the pool.</summary>
    public void Unbind()
    {
        _fetch = null!;
        _request = null!;
        Easy = null!;
        Serial = 0;
        _headers = s_noHeaders;
        _reason = string.Empty;
        _lastFieldName = null;
        _transferCodings = null;
        _outcome = null;
        _completion.Reset();
    }

    /// <summary>
    /// Completes (on the loop thread, from <see cref="Deliver"/>, running the awaiting
    /// continuation inline there) with the response, or fails with the request's error. Await
    /// it once.
    /// </summary>
    public ValueTask<HttpResponse> Completion => new(this, _completion.Version);

    private nint Handle => Easy.DangerousGetHandle();

    /// <summary>The transfer is in curl's hands: watch for cancellation and start the body producer.</summary>
    public void Begin()
    {
        if (_fetch.CancellationToken.CanBeCanceled)
        {
            _registered = true;
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
        if (_outcome is not null)
        {
            return ValueTask.FromException(new HttpStreamClosedError("The request ended before its body was sent"));
        }

        if (data.IsEmpty)
        {
            return default;
        }

        // The producer may reuse its buffer once this returns: keep a copy until curl reads it.
        (_produced ??= new Queue<byte[]>()).Enqueue(data.ToArray());
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
        if (HttpTelemetry.DnsLookupDuration.Enabled)
        {
            NoteNameLookup(result);
        }

        if (_callbackError is not null)
        {
            Finish(_callbackError);
            return;
        }

        if (result != 0 && !IsUnfollowedRedirect(result))
        {
            Finish(ErrorFor(result));
            return;
        }

        _ = LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.ResponseCode, out CLong code);
        if (code.Value == 0 || _headState != HeadState.Ended || _statusCode < 200)
        {
            // libcurl 7.88 takes a connection closed in the middle of the head for the end of a
            // response without a body: the head never ended, so no response came.
            Finish(StreamClosed("the connection closed before the end of the response head"));
            return;
        }

        _client.NoteResponseSize(_headerBytes, _bodyBytesIn);
        try
        {
            FinishBody();
        }
        catch (HttpContentDecodingError e)
        {
            Finish(e);
            return;
        }

        string effectiveUrl = LibCurl.curl_easy_getinfo_ptr(Handle, CurlInfo.EffectiveUrl, out nint url) == 0 && url != 0
            ? UrlText(url)
            : _request.Url;
        FetchTimes times = FillTimes();
        if (_decoder is not null && _headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            // We decoded the body: say so as the simple client does.
            _headers.Add("X-Consumed-Content-Encoding", encoding);
            _headers.Remove("Content-Encoding");
        }

        var response = new HttpResponse(
            _fetch.Original,
            (int)code.Value,
            _reason.Length > 0 ? _reason : null,
            _headers,
            TakeBody(),
            effectiveUrl,
            requestTime: _fetch.Elapsed(),
            startTime: _fetch.StartTime,
            timeInfo: times);
        _fetch.ResponseVersion = ResponseVersion();
        Release();
        _outcome = response;
    }

    /// <summary>curl's URL as a string: the request's own when it is the same (no redirect), without decoding it again.</summary>
    private unsafe string UrlText(nint url)
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)url);
        string requestUrl = _request.Url;
        return System.Text.Ascii.IsValid(bytes) && HttpSyntax.Latin1Equals(bytes, requestUrl) ? requestUrl : Marshal.PtrToStringUTF8(url) ?? requestUrl;
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
        if (_delivered)
        {
            return;
        }

        if (_asyncPending && _outcome is HttpResponse)
        {
            // The async streaming callback still holds the last of the body: the response is
            // the caller's once it is done with it (AwaitStreamingAsync delivers then).
            _deliverAfterHandOver = true;
            return;
        }

        _delivered = true;
        if (_outcome is HttpResponse response)
        {
            _completion.SetResult(response);
        }
        else
        {
            // A cancellation too travels as the exception itself, as from the simple client.
            _completion.SetException((Exception)_outcome!);
        }
    }

    /// <inheritdoc/>
    HttpResponse IValueTaskSource<HttpResponse>.GetResult(short token)
    {
        _resultTaken = true;
        return _completion.GetResult(token);
    }

    /// <inheritdoc/>
    ValueTaskSourceStatus IValueTaskSource<HttpResponse>.GetStatus(short token) => _completion.GetStatus(token);

    /// <inheritdoc/>
    void IValueTaskSource<HttpResponse>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    /// <summary>
    /// curl chose the connection and is about to send the request: false (abort) when bytes
    /// already wait on it, which no request asked for. libcurl 7.88 reuses a kept-alive
    /// connection with a late response on it (its liveness check does not look for unread
    /// data), and would take that for the answer to this request. curl then closes it, and the
    /// request is made again, once, on a fresh connection (<see cref="RetryOnFreshConnection"/>),
    /// where what waits is read as the response, as before. Plain HTTP only: over TLS, records
    /// such as a session ticket may wait legitimately. The socket is found by its ports
    /// (CURLINFO_ACTIVESOCKET is not set yet in this callback): a connection the client tracks
    /// (CurlAsyncHttpClient.Sockets.cs) without a syscall, so a kept-alive request costs one
    /// non-blocking peek here; others with a getsockname/getpeername check.
    /// </summary>
    private bool OnConnectionChosen(int remotePort, int localPort)
    {
        if (_freshConnection || IsHttps())
        {
            return true;
        }

        // A connection this transfer made itself is new: what waits there (a server that speaks
        // first) is read as the response.
        if (LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.NumConnects, out CLong made) == 0 && made.Value > 0)
        {
            return true;
        }

        int fd = _client.FindConnection(localPort, remotePort);
        if (fd >= 0 && _client.LastUserOf(fd) != Serial && LibCurl.HasUnreadBytes(fd))
        {
            _staleConnection = true;
            return false;
        }

        return true;
    }

    /// <summary>
    /// After curl ended the transfer with <paramref name="result"/>: whether it was aborted
    /// because its connection had unread data (see <see cref="OnConnectionChosen"/>); if so,
    /// the handle is set to make the request again on a new connection.
    /// </summary>
    public bool RetryOnFreshConnection(int result)
    {
        if (!_staleConnection || result != CurlCode.AbortedByCallback || _callbackError is not null)
        {
            return false;
        }

        _staleConnection = false;
        _freshConnection = true;
        SetLong(CurlOpt.FreshConnect, 1);
        return true;
    }

    /// <summary>Whether this transfer opened a connection of its own (rather than taking one from curl's cache).</summary>
    public bool MadeConnection => LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.NumConnects, out CLong made) == 0 && made.Value > 0;

    /// <summary>Whether the request has a <see cref="HttpFetchOptions.PrepareCurlCallback"/>, which may set any option (socket callbacks of its own too).</summary>
    public bool Customized => _request.PrepareCurlCallback is not null;

    /// <summary>An exception from one of our callbacks, reported instead of curl's own error for it.</summary>
    public void SetCallbackError(Exception error) => _callbackError ??= error;

    /// <summary>Frees what the transfer holds (the header list, the handle to this object, pooled buffers).</summary>
    public void Release()
    {
        // Unregister, not Dispose: Dispose waits for a callback running on another thread, and
        // the loop thread never waits. A callback that got in anyway only posts an abort, which
        // finds this transfer ended and does nothing.
        if (_registered)
        {
            _registered = false;
            _cancellationMayRun = !_cancellation.Unregister();
        }

        _headerList?.Dispose();
        _headerList = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }

        ReleaseBody();
        _drained?.TrySetException(new HttpStreamClosedError("The request ended before its body was sent"));
        _drained = null;
    }

    /// <summary>
    /// <c>dns.lookup.duration</c>: curl's name-lookup time, for a transfer that resolved a name to
    /// open a connection (or failed to resolve it).
    /// </summary>
    private void NoteNameLookup(int result)
    {
        string host = _fetch.Url.Host;
        if (System.Net.IPAddress.TryParse(host.AsSpan().Trim("[]"), out _) || (result != CurlCode.CouldNotResolveHost && !MadeConnection))
        {
            return;
        }

        _ = LibCurl.curl_easy_getinfo_double(Handle, CurlInfo.NameLookupTime, out double seconds);
        HttpTelemetry.RecordDnsLookup(host, seconds, result == CurlCode.CouldNotResolveHost ? new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound) : null);
    }

    /// <summary>The version of the final response's status line (CURLINFO_HTTP_VERSION).</summary>
    private Version? ResponseVersion()
    {
        _ = LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.HttpVersion, out CLong version);
        return (long)version.Value switch
        {
            CurlFlags.HttpVersion10 => System.Net.HttpVersion.Version10,
            CurlFlags.HttpVersion11 => System.Net.HttpVersion.Version11,
            CurlFlags.HttpVersion2 or CurlFlags.HttpVersion2Tls => System.Net.HttpVersion.Version20,
            CurlFlags.HttpVersion3 => System.Net.HttpVersion.Version30,
            _ => null,
        };
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
}
