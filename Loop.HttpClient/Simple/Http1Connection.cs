using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Loop.Http.Internal;

namespace Loop.Http.Simple;

/// <summary>
/// One HTTP/1.1 connection and the exchange running on it (Tornado's <c>_HTTPConnection</c> with
/// <c>HTTP1Connection</c>'s client side): writes a request, parses the response straight from
/// the stream's buffer, decodes the body as it arrives, and says whether the connection can be
/// kept. A kept connection waits in the <see cref="ConnectionPool"/> and runs the next request
/// with the same object, so a keep-alive request allocates nothing here but what the response
/// keeps (its headers and body).
/// </summary>
/// <remarks>
/// The partial files hold one concern each: this one the exchange's start and end (RunAsync,
/// the value task it completes, the final head's decisions, the response, the deadline timer
/// kept across exchanges, aborting and cancelling);
/// <c>.UserTasks.cs</c> waiting for the caller's own code (body producer, async streaming callback) so that an abort ends the wait;
/// <c>.Request.cs</c> writing the request (keeping a failed write while the answer is read, and
/// letting an unfinished upload run beside the reading of an early answer);
/// <c>.Reading.cs</c> the state machine that each completed read of the stream drives: the
/// response heads (informational ones skipped), the body as framed, and lines; <c>.InPlace.cs</c>
/// the rest of a large Content-Length body received straight into its array;
/// <c>.Framing.cs</c> deciding the framing (Content-Length, transfer codings);
/// <c>.Body.cs</c> decoding, counting and keeping the body; <c>.Policy.cs</c> redirects and keep-alive.
/// </remarks>
internal sealed partial class Http1Connection : IValueTaskSource<Http1Connection.Outcome>
{
    // Informational responses allowed before the final one (see TakeHead).
    private const int MaxInformationalResponses = 10;

    private readonly SimpleAsyncHttpClient _client;
    private readonly PipeReader _input;
    private readonly ResponseHead _head;

    // The exchange under way (reset by RunAsync).
    private FetchState _fetch = null!;
    private HttpRequest _request = null!;
    private RequestUrl _url = null!;
    private int _generation;
    private Exception? _abortError;

    // Bytes of the response taken from the stream in this exchange (HttpStreamClosedError.BytesReceived).
    private long _received;

    // Completes the exchange's value task (RunAsync; with _direct the client's OnDirectExchangeEnded is called instead);
    // the exchange's deadline, its timer, and its cancellation.
    private ManualResetValueTaskSourceCore<Outcome> _core;
    private bool _direct;
    private double _deadline = double.PositiveInfinity;
    private TimeoutHandle _deadlineTimer;
    private double _deadlineTimerAt = double.PositiveInfinity;
    private CancellationTokenRegistration _registration;
    private bool _ended = true;

    // The final head's decisions, kept for the end of the body (FinishExchange).
    private HttpRequest? _redirect;
    private bool _framed;
    private int _finishing;
    private ConfiguredTaskAwaitable.ConfiguredTaskAwaiter _uploadAwaiter;
    private Action? _onUploadDone;

    public Http1Connection(SimpleAsyncHttpClient client, IOStream stream, OriginKey origin, bool viaProxy)
    {
        _client = client;
        Stream = stream;
        Origin = origin;
        ViaProxy = viaProxy;
        _input = stream.Input;
        _head = new ResponseHead(client.ResponseFields);
        _onReadable = OnReadable;
        _buffer.Pool = client.BodyPool;
        _core.RunContinuationsAsynchronously = false;
    }

    public IOStream Stream { get; }

    /// <summary>Which requests may use this connection.</summary>
    public OriginKey Origin { get; }

    /// <summary>Whether this goes through an HTTP proxy to an http origin (requests in absolute form).</summary>
    public bool ViaProxy { get; }

    /// <summary>Whether any byte of the response arrived (a failure before that may be retried on a new connection).</summary>
    public bool ResponseStarted { get; private set; }

    // The pool's bookkeeping while the connection is idle: since when (loop time and iteration), its timer
    // (armed at most once at a time, see ConnectionPool), the callback that forgets it on close.
    internal double IdleSince;
    internal long ReturnedAt;
    internal TimeoutHandle IdleTimer;
    internal bool IdleTimerArmed;
    internal Action? OnIdleClose;
    internal Action? OnIdleTimeout;

    // The client's list of connections running an exchange (so that Close can abort them).
    internal Http1Connection? RunningPrevious;
    internal Http1Connection? RunningNext;

    /// <summary>Closes the connection for good: its stream, and the timers it keeps armed across exchanges.</summary>
    public void Discard()
    {
        IOLoop loop = _client.Loop;
        loop.RemoveTimeout(_deadlineTimer);
        _deadlineTimer = default;
        _deadlineTimerAt = double.PositiveInfinity;
        loop.RemoveTimeout(IdleTimer);
        IdleTimer = default;
        IdleTimerArmed = false;
        Stream.Close();
        OnClosed();
    }

    /// <summary>
    /// Sets the exchange's deadline. The timer is not made and removed per exchange: one stays
    /// armed across exchanges at the earliest deadline it was armed for, and when it fires
    /// before the current exchange's deadline it is armed again for that one (or not at all
    /// between exchanges). So a keep-alive request costs a field write, not a timer.
    /// </summary>
    private void ArmDeadline(double deadline)
    {
        _deadline = deadline;
        if (double.IsPositiveInfinity(deadline) || _deadlineTimerAt <= deadline)
        {
            return;
        }

        IOLoop loop = _client.Loop;
        loop.RemoveTimeout(_deadlineTimer);
        _deadlineTimerAt = deadline;
        _deadlineTimer = loop.CallAt(deadline, static state => ((Http1Connection)state!).OnDeadlineTimer(), this);
    }

    private void OnDeadlineTimer()
    {
        _deadlineTimer = default;
        _deadlineTimerAt = double.PositiveInfinity;
        if (_ended || double.IsPositiveInfinity(_deadline))
        {
            // Between exchanges: the next one arms it again.
            return;
        }

        if (_client.Loop.Time() < _deadline)
        {
            // Armed for an earlier exchange: this one has time left.
            ArmDeadline(_deadline);
            return;
        }

        Abort(new HttpTimeoutError(HttpTimeoutPhase.Request));
    }

    /// <summary>
    /// Ends the exchange at once with <paramref name="error"/> (a timeout, a cancellation, the
    /// client closing; the first reason wins): closes the stream, which ends a pending read or
    /// write, and ends a wait for the caller's own code (see <see cref="WaitForUserTaskAsync"/>).
    /// The exchange may unwind inline, before this returns. Loop thread only.
    /// </summary>
    public void Abort(Exception error)
    {
        _abortError ??= error;
        Stream.Close(error);
        _userWait?.Abort(_abortError);
        _producerWait?.Abort(_abortError);
    }

    /// <summary>
    /// Runs <paramref name="fetch"/>'s current hop on this connection: writes the request and
    /// starts reading the answer, then returns. The exchange goes on as the stream's reads
    /// complete (see <c>.Reading.cs</c>); the value task completes on the loop thread, inline
    /// where the exchange ends, with its <see cref="Outcome"/> or its failure. Await it once.
    /// </summary>
    public ValueTask<Outcome> RunAsync(FetchState fetch)
    {
        AssertOnLoop();
        _direct = false;
        _core.Reset();
        var result = new ValueTask<Outcome>(this, _core.Version);
        Begin(fetch);
        return result;
    }

    /// <summary>
    /// <see cref="RunAsync"/> for a fetch the client runs without an async method: where the
    /// exchange ends, the connection calls <see cref="SimpleAsyncHttpClient.OnDirectExchangeEnded"/>
    /// with the outcome or the failure (before this returns, when it ends at once).
    /// </summary>
    public void RunDirect(FetchState fetch)
    {
        AssertOnLoop();
        _direct = true;
        Begin(fetch);
    }

    private void Begin(FetchState fetch)
    {
        _fetch = fetch;
        _request = fetch.Request;
        _url = fetch.Url;
        _abortError = null;
        ResponseStarted = false;
        _received = 0;
        _generation++;
        _ended = false;
        ArmDeadline(fetch.Deadline);
        _registration = fetch.CancellationToken.CanBeCanceled
            ? fetch.CancellationToken.UnsafeRegister(static state => ((ExchangeCancel)state!).Post(), new ExchangeCancel(this, _generation))
            : default;
        try
        {
            StartExchange();
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>Ends the exchange with its outcome: the awaiting fetch continues inline. Nothing of the exchange may be touched after this.</summary>
    private void Complete(Outcome outcome)
    {
        if (_ended)
        {
            return;
        }

        FetchState fetch = _fetch;
        EndExchange();
        if (_direct)
        {
            _client.OnDirectExchangeEnded(this, fetch, outcome, null);
        }
        else
        {
            _core.SetResult(outcome);
        }
    }

    /// <summary>
    /// Ends the exchange with the failure <paramref name="e"/> stands for: an abort's own error
    /// (a timeout, a cancellation, the client closing), the body producer's failure, a send
    /// that failed when no answer came, or <paramref name="e"/> itself.
    /// </summary>
    private void Fail(Exception e)
    {
        if (_ended)
        {
            return;
        }

        Exception error = e;
        if (error is HttpStreamClosedError && _state == ReadState.Head && _sendFailure is not null && !ResponseStarted)
        {
            // No answer came: the failed write is what went wrong.
            error = _sendFailure;
        }

        if (_abortError is not null && error is not ArgumentException)
        {
            error = _abortError is OperationCanceledException ? new OperationCanceledException(_fetch.CancellationToken) : _abortError;
        }
        else if (_uploadError is not null && error is HttpStreamClosedError or StreamClosedException)
        {
            // The caller's body producer failed while the answer was being read: that is the failure.
            error = _uploadError.SourceException;
        }
        else if (error is StreamClosedException closed)
        {
            // A write failed (the server closed or reset the connection) and no response came.
            Exception? cause = closed.InnerException ?? Stream.Error;
            error = new HttpStreamClosedError(cause is null ? "Stream closed while sending the request" : $"Stream closed while sending the request: {cause.Message}", cause, _received);
        }
        else if (error is HttpProtocolError)
        {
            Stream.Close(error);
        }

        FetchState fetch = _fetch;
        EndExchange();
        if (_direct)
        {
            _client.OnDirectExchangeEnded(this, fetch, default, error);
        }
        else
        {
            _core.SetException(error);
        }
    }

    /// <summary>What ends with every exchange, however it ended: its timer, its cancellation, its body's memory, an upload given up on.</summary>
    private void EndExchange()
    {
        _ended = true;
        _deadline = double.PositiveInfinity;
        _registration.Dispose();
        _registration = default;
        if (_directPending)
        {
            // The body's array may go back to a pool: the stream must no longer receive into
            // it. An exchange that ends mid-body leaves a connection no one can use anyway.
            Stream.Close();
        }

        ReleaseBody();
        _fetch = null!;
        _request = null!;
        _url = null!;
        _redirect = null;
        _redirectUrl = null;
        _sendFailure = null;
        AbandonUpload();
        _uploadError = null;
        _state = ReadState.Head;
    }

    Outcome IValueTaskSource<Outcome>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<Outcome>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<Outcome>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>
    /// The final response head has been read into <see cref="_head"/>: stop an upload it
    /// answers early, decide the redirect, run the header callback, choose the body's framing.
    /// </summary>
    private void OnFinalHead()
    {
        ResponseHead response = _head;
        HttpHeaders headers = response.Headers;
        int code = response.Code;
        if (_upload is { IsCompleted: false } && code is not (>= 200 and < 300))
        {
            // A final answer came before the body was all sent. As curl does, anything but a 2xx
            // (an early 413, a redirect) stops the upload: the body producer writes no more, the
            // answer is read as usual, then the connection is closed (the request was cut
            // short). A 2xx is read while the upload goes on: a server may answer as it reads.
            _uploadStopped = true;
        }

        _redirect = RedirectFor(code, headers);
        long contentLength = HttpSyntax.ContentLength(headers);
        if (_redirect is null && _request.HeaderCallback is { } headerCallback)
        {
            foreach (string line in response.RawLines!)
            {
                headerCallback(line);
            }
        }

        // The body of a redirect that is followed is read and dropped (so the connection can be
        // reused), and counted against MaxBodySize like any other.
        BodyFraming framing = ChooseFraming(code, headers, contentLength, keep: _redirect is null);
        PrepareBody(headers, contentLength, keep: _redirect is null);
        _framed = true;
        switch (framing)
        {
            case BodyFraming.None:
                _state = ReadState.Done;
                break;
            case BodyFraming.Chunked:
                _state = ReadState.ChunkSize;
                break;
            case BodyFraming.Length:
                _expected = _remaining = contentLength;
                _state = contentLength == 0 ? ReadState.Done : ReadState.Length;
                break;
            default:
                _state = ReadState.UntilClose;
                break;
        }
    }

    /// <summary>
    /// The body has ended: finish decoding, wait for an upload still going (or give it up), and
    /// complete the exchange with its response or its redirect.
    /// </summary>
    private void FinishExchange()
    {
        if (_finishing == 0)
        {
            FinishBody();
            _finishing = 1;
            if (_asyncStreaming is not null && _pendingLength > 0 && !HandOver())
            {
                // The decoders' last bytes go to the async streaming callback first; this runs again after.
                return;
            }
        }

        if (_upload is { } upload)
        {
            if (_uploadStopped)
            {
                AbandonUpload();
            }
            else if (!upload.IsCompleted)
            {
                // The answer is in; the body is still going out (a server that answers as it reads).
                _uploadAwaiter = upload.ConfigureAwait(true).GetAwaiter();
                _uploadAwaiter.UnsafeOnCompleted(_onUploadDone ??= OnUploadDone);
                return;
            }
            else
            {
                _upload = null;
                _uploadError?.Throw();
            }
        }

        _finishing = 0;
        ResponseHead response = _head;
        HttpHeaders headers = response.Headers;
        int code = response.Code;
        bool keepAlive = code != 101 && !_uploadStopped && _bodySent && _sendFailure is null && WantsKeepAlive(response)
            && _framed && !Stream.IsClosed && Stream.BufferedByteCount == 0;
        if (_redirect is not null)
        {
            _fetch.RedirectCode = code;
            Complete(new Outcome(null, _redirect, _redirectUrl, keepAlive));
            return;
        }

        if (_decoder is not null)
        {
            headers.Add("X-Consumed-Content-Encoding", headers["Content-Encoding"]);
            headers.Remove("Content-Encoding");
        }

        TimeSpan requestTime = _fetch.ElapsedAt(_fetch.Mark(FetchTimes.Total));
        Body.ResponseBody body = TakeBody();
        HttpResponse result = _fetch.CanReuseResponse(code, body)
            ? _fetch.ReuseResponse(code, response.Reason, response.PublishFields(), body, _request.Url, requestTime)
            : new HttpResponse(
                _fetch.Original,
                code,
                response.Reason,
                response.PublishFields(),
                body,
                _request.Url,
                requestTime: requestTime,
                startTime: _fetch.StartTime,
                timeInfo: _fetch.Times);
        _fetch.ResponseVersion = response.Version == "HTTP/1.0" ? System.Net.HttpVersion.Version10 : System.Net.HttpVersion.Version11;
        Complete(new Outcome(result, null, null, keepAlive));
    }

    private void OnUploadDone()
    {
        ConfiguredTaskAwaitable.ConfiguredTaskAwaiter awaiter = _uploadAwaiter;
        _uploadAwaiter = default;
        try
        {
            // The upload's task never faults (WatchUploadAsync keeps its failure): this does not throw or block.
            awaiter.GetResult();
            if (_abortError is not null)
            {
                throw _abortError;
            }

            FinishExchange();
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>The exception for a stream that ended before the response did.</summary>
    private Exception Closed()
    {
        if (_abortError is not null)
        {
            return _abortError;
        }

        Exception? cause = Stream.Error;
        string what = _received == 0 ? "before any response byte" : $"after {_received} bytes of the response";
        return new HttpStreamClosedError(cause is null ? $"Stream closed {what}" : $"Stream closed {what}: {cause.Message}", cause, _received);
    }

    /// <summary>
    /// Debug builds (the tests) check that the exchange runs on the loop thread: a Task awaited
    /// with ConfigureAwait(false) under the loop's context resumes on the thread pool, and
    /// everything after it would run there unnoticed.
    /// </summary>
    [System.Diagnostics.Conditional("DEBUG")]
    private void AssertOnLoop()
    {
        if (!_client.Loop.IsOnLoopThread)
        {
            throw new InvalidOperationException("An HTTP exchange ran off its loop's thread.");
        }
    }

    /// <summary>How an exchange ended: a response, or a request to follow, and whether the connection can be kept.</summary>
    internal readonly record struct Outcome(HttpResponse? Response, HttpRequest? Redirect, RequestUrl? RedirectUrl, bool KeepAlive);

    /// <summary>A cancellation of one exchange: a later exchange on the same connection is not touched.</summary>
    private sealed class ExchangeCancel(Http1Connection connection, int generation)
    {
        public void Post() => connection._client.Loop.AddCallback(static state => ((ExchangeCancel)state!).Run(), this);

        private void Run()
        {
            if (connection._generation == generation && connection._fetch is not null)
            {
                connection.Abort(new OperationCanceledException());
            }
        }
    }
}
