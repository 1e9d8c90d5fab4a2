using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;
using Loop.Http.Body;
using Loop.Http.Internal;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

/// <summary>
/// An <see cref="AsyncHttpClient"/> on libcurl (Tornado's <c>CurlAsyncHTTPClient</c>): multi
/// handles (one for every 256 concurrent transfers) driven by the loop through
/// <c>curl_multi_socket_action</c>, so curl's sockets and timers live on the loop thread with
/// everything else. Choose it with
/// <c>AsyncHttpClient.Configure&lt;CurlAsyncHttpClient&gt;()</c> or make one directly.
/// </summary>
/// <remarks>
/// <para>
/// libcurl is loaded when the first client is made (<c>libcurl.so.4</c> and the other names the
/// platforms use; <c>LOOP_LIBCURL</c> names another file); <see cref="CurlUnavailableException"/>
/// says what was looked for if none can be used. Easy handles are pooled (at most
/// <see cref="AsyncHttpClient.MaxClients"/>) and reset between requests, so no option of one
/// request leaks into the next (before libcurl 8.1.0, whose reused handles can corrupt memory,
/// each request gets a fresh one); connections are kept alive by libcurl's connection cache,
/// which holds up to 4 × <see cref="AsyncHttpClient.MaxClients"/> connections, the oldest idle
/// one closed first (libcurl's own default, 4 × the transfers running, shrinks as a burst drains,
/// so a lull between two bursts would close connections the next burst opens again).
/// <see cref="AsyncHttpClientSettings.IdleConnectionTimeout"/> bounds how long a connection may
/// have been idle to be reused (whole seconds, rounded up: libcurl's <c>CURLOPT_MAXAGE_CONN</c>,
/// from libcurl 7.65.0); zero keeps none.
/// </para>
/// <para>
/// Beyond the simple client it supports digest authentication (also for proxies), and
/// <see cref="HttpFetchOptions.PrepareCurlCallback"/>, which may set any further option on the
/// easy handle. <see cref="HttpFetchOptions.SslOptions"/> is refused (it is .NET's TLS), and
/// with redirects followed the response's headers are those of the final response.
/// </para>
/// <para>
/// What the simple client checks, this one checks too, whatever libcurl lets through: content
/// codings are undone by the client (gzip, deflate, br; libcurl's own decoding is off), the
/// framing fields and status line follow the simple client's rules, <c>MaxBodySize</c> bounds
/// the bodies of followed redirects as well, and every failure is the same
/// <see cref="HttpClientError"/> subtype the simple client raises, with the libcurl code in
/// <see cref="HttpClientError.CurlCode"/>.
/// </para>
/// </remarks>
public sealed partial class CurlAsyncHttpClient : AsyncHttpClient
{
    private readonly Stack<CurlEasyHandle> _idleHandles = new();
    private readonly Stack<CurlTransfer> _idleTransfers = new();
    private readonly Dictionary<nint, CurlTransfer> _transfers = [];
    private readonly IOHandler _onSocketEvent;
    private GCHandle _self;
    private bool _inCurl;

    /// <summary>Creates a client; prefer <see cref="AsyncHttpClient.Create"/>, which keeps one per loop.</summary>
    /// <exception cref="CurlUnavailableException">libcurl cannot be loaded or is too old.</exception>
    public unsafe CurlAsyncHttpClient(IOLoop loop, AsyncHttpClientSettings settings)
        : base(loop, settings)
    {
        LibCurl.EnsureLoaded();
        MaxBodySize = settings.MaxBodySize ?? settings.MaxBufferSize ?? IOStreamOptions.DefaultMaxBufferSize;
        MaxHeaderSize = settings.MaxHeaderSize ?? AsyncHttpClientSettings.DefaultMaxHeaderSize;
        _onSocketEvent = OnSocketEvent;
        _self = GCHandle.Alloc(this);
        AddMulti();
        TimeSpan idle = settings.IdleConnectionTimeout ?? AsyncHttpClientSettings.DefaultIdleConnectionTimeout;
        MaxIdleSeconds = idle > TimeSpan.Zero ? (long)Math.Ceiling(idle.TotalSeconds) : 0;
        if (settings.HostnameMapping is { Count: > 0 } || settings.Resolver is not null)
        {
            Logger.LogWarning("The curl client resolves with libcurl: HostnameMapping and Resolver are ignored.");
        }
    }

    /// <summary>The libcurl version in use, for example <c>7.88.1</c>.</summary>
    public static string CurlVersion
    {
        get
        {
            LibCurl.EnsureLoaded();
            return LibCurl.Version;
        }
    }

    /// <summary>Transfers curl is running now.</summary>
    public int TransferCount => _transfers.Count;

    /// <summary>Easy handles kept for reuse.</summary>
    public int IdleHandleCount => _idleHandles.Count;

    /// <summary>Transfer objects kept for the next requests.</summary>
    internal int IdleTransferCount => _idleTransfers.Count;

    /// <summary>Easy handles made and not yet freed (running, idle, or between the two): zero once the client is closed.</summary>
    internal int OpenHandleCount { get; private set; }

    internal long MaxBodySize { get; }

    // What the latest responses looked like, so that a server's repeated lines cost no strings:
    // the last status line (with its reason) and the fields by their place in the head.
    private const int RememberedFields = 32;
    private readonly string?[] _fieldNames = new string?[RememberedFields];
    private readonly string?[] _fieldValues = new string?[RememberedFields];

    // Body buffers of finished transfers (emptied), for the next ones.
    private readonly Stack<BodyBuffer> _bodyBuffers = new();

    /// <summary>An empty body buffer (Reset it with the limit before use).</summary>
    internal BodyBuffer RentBodyBuffer() => _bodyBuffers.TryPop(out BodyBuffer? buffer) ? buffer : new BodyBuffer(MaxBodySize) { Pool = BodyPool };

    /// <summary>Takes back an emptied buffer; kept up to one per possible transfer.</summary>
    internal void ReturnBodyBuffer(BodyBuffer buffer)
    {
        if (_bodyBuffers.Count < MaxClients)
        {
            _bodyBuffers.Push(buffer);
        }
    }

    // The header lists of requests without header fields of their own, by what the client adds.
    private readonly CurlStringList?[] _sharedHeaderLists = new CurlStringList?[8];

    /// <summary>The header list for a request with no fields of its own (curl only reads it): made once per combination, freed when the client closes.</summary>
    internal nint SharedHeaderList(bool expect, bool acceptEncoding, bool formContentType)
    {
        int key = (expect ? 1 : 0) | (acceptEncoding ? 2 : 0) | (formContentType ? 4 : 0);
        if (_sharedHeaderLists[key] is not { } list)
        {
            list = new CurlStringList();
            CurlTransfer.AppendOwnLines(list, expect, acceptEncoding, formContentType);
            _sharedHeaderLists[key] = list;
        }

        return list.DangerousGetHandle();
    }

    /// <summary>The latest well-formed status line a transfer of this client read (without its CRLF).</summary>
    internal string? LastStatusLine { get; private set; }

    /// <summary>The reason phrase of <see cref="LastStatusLine"/>.</summary>
    internal string LastReason { get; private set; } = string.Empty;

    /// <summary>How many fields the latest head a transfer of this client read had (the next heads' initial capacity).</summary>
    internal int LastFieldCount { get; set; }

    internal void RememberStatusLine(string line, string reason)
    {
        LastStatusLine = line;
        LastReason = reason;
    }

    /// <summary>The field last read at <paramref name="index"/> in a head (valid: a token name, a value without control characters), or nulls.</summary>
    internal (string? Name, string? Value) RememberedField(int index) =>
        index < RememberedFields ? (_fieldNames[index], _fieldValues[index]) : (null, null);

    internal void RememberField(int index, string name, string value)
    {
        if (index < RememberedFields)
        {
            _fieldNames[index] = name;
            _fieldValues[index] = value;
        }
    }

    /// <summary>
    /// Whether the bodies lately were large: set by a body of 256 KiB or more, cleared by one
    /// under 64 KiB. Transfers made meanwhile ask curl for a larger receive buffer.
    /// </summary>
    internal bool LargeBodies { get; private set; }

    /// <summary>
    /// Whether the responses lately were small: each of the last <see cref="SmallRunToTrust"/>
    /// fitted in <see cref="SmallResponse"/> bytes (head fields and body). True until a larger
    /// one comes: before any response, nothing says that the buffer is too small.
    /// </summary>
    internal bool SmallResponses => _smallRun >= SmallRunToTrust;

    /// <summary>
    /// The receive buffer asked for (<c>CURLOPT_BUFFERSIZE</c>) by a transfer that runs beyond the
    /// first multi handle while responses are small: libcurl's smallest. libcurl allocates its
    /// buffer (16 KiB by default) for every transfer, and at least a page of it is touched; with
    /// thousands of transfers at once that was about 3 KiB of every connection's memory. A larger
    /// response only takes more reads.
    /// </summary>
    internal const int SmallReceiveBuffer = 1024;

    /// <summary>The largest response (head fields and body) counted as small: one read of <see cref="SmallReceiveBuffer"/> with the status line.</summary>
    internal const int SmallResponse = 768;

    /// <summary>How many small responses in a row make <see cref="SmallResponses"/> true again after a larger one.</summary>
    internal const int SmallRunToTrust = 32;

    private int _smallRun = SmallRunToTrust;

    /// <summary>The receive buffer a transfer on <paramref name="multi"/> asks libcurl for, in bytes; 0 for libcurl's default.</summary>
    private int ReceiveBufferFor(CurlMulti multi) =>
        LargeBodies ? CurlTransfer.LargeReceiveBuffer
        : multi != _multis[0] && SmallResponses ? SmallReceiveBuffer
        : 0;

    /// <summary>How long a connection may have been idle to be reused, whole seconds; 0 keeps none.</summary>
    internal long MaxIdleSeconds { get; }

    /// <summary>A transfer's final response had <paramref name="headBytes"/> of head fields and <paramref name="bodyBytes"/> of body (as they came, before decoding).</summary>
    internal void NoteResponseSize(long headBytes, long bodyBytes)
    {
        if (bodyBytes >= 256 * 1024)
        {
            LargeBodies = true;
        }
        else if (bodyBytes < 64 * 1024)
        {
            LargeBodies = false;
        }

        if (headBytes + bodyBytes > SmallResponse)
        {
            _smallRun = 0;
        }
        else if (_smallRun < SmallRunToTrust)
        {
            _smallRun++;
        }
    }

    internal int MaxHeaderSize { get; }

    internal new ILogger Logger => base.Logger;

    /// <summary>A transfer of <paramref name="fetch"/> follows a redirect curl took.</summary>
    internal void NoteRedirect(FetchState fetch, int statusCode, string location) => OnRedirect(fetch, statusCode, location);

    private protected override void ValidateForImplementation(HttpRequest request)
    {
        if (request.SslOptions is not null)
        {
            throw new ArgumentException("SslOptions are .NET's TLS settings, which the curl client does not use; set ValidateCert, CaCerts, ClientCert and ClientKey instead.", nameof(request));
        }

        if (request.HttpVersion is { } version)
        {
            if (version != System.Net.HttpVersion.Version10 && version != System.Net.HttpVersion.Version11 && version != System.Net.HttpVersion.Version20)
            {
                throw new ArgumentException($"HTTP version {version} is not one the curl client speaks (1.0, 1.1 or 2.0).", nameof(request));
            }

            if (version == System.Net.HttpVersion.Version20 && !LibCurl.SupportsHttp2)
            {
                throw new ArgumentException($"This libcurl ({LibCurl.Version}) was built without HTTP/2.", nameof(request));
            }
        }
    }

    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private protected override async ValueTask<HttpResponse> FetchCoreAsync(FetchState fetch)
    {
        // Tasks completed on the loop: awaited on the loop's context, which resumes them inline
        // there (with ConfigureAwait(false) a Task completed under a SynchronizationContext
        // resumes its continuation on the thread pool).
        await AcquireSlotAsync(fetch).ConfigureAwait(true);
        try
        {
            CurlTransfer transfer = Start(fetch);

            try
            {
                // Not a Task: the transfer's own source, completed on the loop thread, which runs
                // this continuation inline (no context captured, none needed: it is the loop's).
                return await transfer.Completion.ConfigureAwait(false);
            }
            finally
            {
                // Here, not after Deliver: the caller's continuation, run inline from here, may
                // start the next request at once, which then finds this object in the pool.
                Recycle(transfer);
            }
        }
        finally
        {
            ReleaseSlot();
        }
    }

    private CurlTransfer Start(FetchState fetch)
    {
        if (!_idleHandles.TryPop(out CurlEasyHandle? easy))
        {
            easy = CurlEasyHandle.Create();
            OpenHandleCount++;
        }

        CurlTransfer transfer = _idleTransfers.TryPop(out CurlTransfer? idle) ? idle : new CurlTransfer(this);
        transfer.Bind(fetch, easy);
        CurlMulti multi = MultiWithRoom();
        try
        {
            transfer.Configure(ReceiveBufferFor(multi));
        }
        catch
        {
            transfer.Release();
            ReturnHandle(easy);
            throw;
        }

        int added = LibCurl.curl_multi_add_handle(multi.Native, easy.DangerousGetHandle());
        if (added != 0)
        {
            transfer.Release();
            ReturnHandle(easy);
            throw new InvalidOperationException($"curl_multi_add_handle failed: {LibCurl.MultiErrorText(added)}");
        }

        multi.Running++;
        transfer.Multi = multi;
        _transfers[easy.DangerousGetHandle()] = transfer;
        transfer.Begin();
        ArmSafetyTick();
        return transfer;
    }

    /// <summary>
    /// Ends <paramref name="transfer"/> at once with <paramref name="error"/> (a cancellation, a
    /// failed body producer or streaming callback, the client closing). Loop thread; from inside
    /// libcurl it is posted to the next loop turn. Does nothing when that transfer has already
    /// ended: the abort names the transfer, not its easy handle, which may by then carry another
    /// request (a cancellation posted while its transfer completed would otherwise end the next
    /// request on the recycled handle, which then never completed).
    /// </summary>
    internal void Abort(CurlTransfer transfer, Exception error)
    {
        if (_inCurl)
        {
            // Never inside libcurl's own call: the next loop turn does it, if the object still
            // carries the same request then.
            long serial = transfer.Serial;
            Loop.AddCallback(() =>
            {
                if (transfer.Serial == serial)
                {
                    Abort(transfer, error);
                }
            });
            return;
        }

        if (!IsRunning(transfer))
        {
            return;
        }

        _transfers.Remove(transfer.Easy.DangerousGetHandle());
        RemoveFromMulti(transfer);
        transfer.Finish(error);
        ReturnHandle(transfer.Easy);
        transfer.Deliver();
    }

    /// <summary>Keeps a delivered transfer object for the next request when nothing can reach it any more (up to one per possible transfer).</summary>
    private void Recycle(CurlTransfer transfer)
    {
        if (transfer.Reusable && !IsClosed && _idleTransfers.Count < MaxClients)
        {
            transfer.Unbind();
            _idleTransfers.Push(transfer);
        }
    }

    /// <summary>Whether <paramref name="transfer"/> itself (not merely its easy handle) is in curl's hands now.</summary>
    private bool IsRunning(CurlTransfer transfer) =>
        transfer.Easy is { } easy && _transfers.TryGetValue(easy.DangerousGetHandle(), out CurlTransfer? current) && ReferenceEquals(current, transfer);

    /// <summary>Lets curl go on with a transfer it paused for us (a body producer wrote more, an async streaming callback finished); nothing if it has ended.</summary>
    internal void Resume(CurlTransfer transfer)
    {
        if (_inCurl)
        {
            long serial = transfer.Serial;
            Loop.AddCallback(() =>
            {
                if (transfer.Serial == serial)
                {
                    Resume(transfer);
                }
            });
            return;
        }

        if (IsRunning(transfer))
        {
            CurlMulti multi = transfer.Multi!;
            _inCurl = true;
            try
            {
                _ = LibCurl.curl_easy_pause(transfer.Easy.DangerousGetHandle(), CurlFlags.PauseContinue);
            }
            finally
            {
                _inCurl = false;
            }

            ProcessMessages(multi);
        }
    }

    private protected override void CloseCore()
    {
        if (_inCurl)
        {
            // Closed from inside one of libcurl's callbacks (a streaming callback, a continuation
            // run by one): the multi handle cannot be cleaned up under curl's feet. Curl is not
            // called again (SocketAction checks IsClosed) until the next loop turn does it.
            Loop.AddCallback(static state => ((CurlAsyncHttpClient)state!).CloseCore(), this);
            return;
        }

        foreach (CurlTransfer transfer in _transfers.Values.ToArray())
        {
            Abort(transfer, new ObjectDisposedException(nameof(CurlAsyncHttpClient), "The client was closed."));
        }

        foreach (CurlMulti multi in _multis)
        {
            Loop.RemoveTimeout(multi.Timer);
            multi.Timer = default;
        }

        Loop.RemoveTimeout(_tick);
        _tickArmed = false;
        Loop.RemoveTimeout(_retire);
        _retireArmed = false;
        _idleTransfers.Clear();
        while (_idleHandles.TryPop(out CurlEasyHandle? easy))
        {
            easy.Dispose();
            OpenHandleCount--;
        }

        // Cleaning up a multi handle closes curl's cached connections and may call the socket
        // callback on the way; the handle to this client stays valid until it is done.
        _inCurl = true;
        try
        {
            foreach (CurlMulti multi in _multis)
            {
                multi.Dispose();
            }
        }
        finally
        {
            _inCurl = false;
        }

        ForgetAllSockets();
        for (int i = 0; i < _sharedHeaderLists.Length; i++)
        {
            _sharedHeaderLists[i]?.Dispose();
            _sharedHeaderLists[i] = null;
        }

        foreach (CurlMulti multi in _multis)
        {
            Loop.RemoveTimeout(multi.Timer);
            multi.Timer = default;
        }

        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    /// <summary>
    /// Whether an easy handle carries more than one transfer. Not before libcurl 8.1.0: there
    /// the header store behind <c>curl_easy_header</c> (lib/headers.c) keeps
    /// <c>state.prevhead</c>, a pointer to the previous response's last field, across transfers
    /// on the same easy handle (its init does not clear it), and a response
    /// whose first field line starts with whitespace (an obs-fold with nothing to fold onto) is
    /// unfolded onto that freed memory: a double free, and the process dies (catalogue:
    /// Found_FoldedFirstFieldOnAReusedHandle). Upstream: https://github.com/curl/curl/issues/11101,
    /// fixed by https://github.com/curl/curl/pull/11103 ("headers: clear (possibly) lingering
    /// pointer in init"), released in 8.1.0. On those versions each transfer gets a fresh native handle (the pooled object is renewed, not reset)
    /// (as <c>curl -Z</c> does); connections are still reused, from the multi handle's cache.
    /// </summary>
    internal static bool ReusesEasyHandles => LibCurl.VersionNumber >= 0x080100;

    private void ReturnHandle(CurlEasyHandle easy)
    {
        if (IsClosed || _idleHandles.Count >= MaxClients || (!ReusesEasyHandles && !easy.TryRenew()))
        {
            easy.Dispose();
            OpenHandleCount--;
            return;
        }

        if (ReusesEasyHandles)
        {
            LibCurl.curl_easy_reset(easy.DangerousGetHandle());
        }

        _idleHandles.Push(easy);
    }
}
