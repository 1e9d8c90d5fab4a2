using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
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
/// The partial files hold one concern each: this one the exchange (its fields, RunAsync,
/// the sequence of an exchange, informational responses, aborting and cancelling);
/// <c>.UserTasks.cs</c> waiting for the caller's own code (body producer, async streaming callback) so that an abort ends the wait;
/// <c>.Request.cs</c> writing the request (keeping a failed write while the answer is read, and
/// letting an unfinished upload run beside the reading of an early answer);
/// <c>.Reading.cs</c> reading the response head, the body as framed, and lines;
/// <c>.Framing.cs</c> deciding the framing (Content-Length, transfer codings);
/// <c>.Body.cs</c> decoding, counting and keeping the body; <c>.Policy.cs</c> redirects and keep-alive.
/// </remarks>
internal sealed partial class Http1Connection
{
    // Informational responses allowed before the final one (see ReadFinalHeadAsync).
    private const int MaxInformationalResponses = 10;

    private readonly SimpleAsyncHttpClient _client;
    private readonly PipeReader _input;
    private readonly ResponseHead _head = new();

    // The exchange under way (reset by RunAsync).
    private FetchState _fetch = null!;
    private HttpRequest _request = null!;
    private RequestUrl _url = null!;
    private int _generation;
    private Exception? _abortError;

    // Bytes of the response taken from the stream in this exchange (HttpStreamClosedError.BytesReceived).
    private long _received;

    public Http1Connection(SimpleAsyncHttpClient client, IOStream stream, OriginKey origin, bool viaProxy)
    {
        _client = client;
        Stream = stream;
        Origin = origin;
        ViaProxy = viaProxy;
        _input = stream.Input;
        _deliverDecoded = DeliverDecoded;
        _skipDecoded = SkipDecoded;
        _afterTransfer = AfterTransfer;
        _deliver = _deliverDecoded;
    }

    public IOStream Stream { get; }

    /// <summary>Which requests may use this connection.</summary>
    public OriginKey Origin { get; }

    /// <summary>Whether this goes through an HTTP proxy to an http origin (requests in absolute form).</summary>
    public bool ViaProxy { get; }

    /// <summary>Whether any byte of the response arrived (a failure before that may be retried on a new connection).</summary>
    public bool ResponseStarted { get; private set; }

    // The pool's bookkeeping while the connection is idle.
    internal TimeoutHandle IdleTimer;
    internal Action? OnIdleClose;

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

    /// <summary>Runs <paramref name="fetch"/>'s current hop on this connection.</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    public async ValueTask<Outcome> RunAsync(FetchState fetch)
    {
        AssertOnLoop();
        _fetch = fetch;
        _request = fetch.Request;
        _url = fetch.Url;
        _abortError = null;
        ResponseStarted = false;
        _received = 0;
        _generation++;
        IOLoop loop = _client.Loop;
        TimeoutHandle timer = double.IsPositiveInfinity(fetch.Deadline)
            ? default
            : loop.CallAt(fetch.Deadline, static state => ((Http1Connection)state!).Abort(new HttpTimeoutError(HttpTimeoutPhase.Request)), this);
        CancellationTokenRegistration registration = fetch.CancellationToken.CanBeCanceled
            ? fetch.CancellationToken.UnsafeRegister(static state => ((ExchangeCancel)state!).Post(), new ExchangeCancel(this, _generation))
            : default;
        try
        {
            return await ExchangeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (_abortError is not null && e is not ArgumentException)
        {
            throw _abortError is OperationCanceledException ? new OperationCanceledException(fetch.CancellationToken) : _abortError;
        }
        catch (Exception e) when (_uploadError is not null && e is HttpStreamClosedError or StreamClosedException)
        {
            // The caller's body producer failed while the answer was being read: that is the failure.
            _uploadError.Throw();
            throw;
        }
        catch (StreamClosedException e)
        {
            // A write failed (the server closed or reset the connection) and no response came.
            Exception? cause = e.InnerException ?? Stream.Error;
            throw new HttpStreamClosedError(cause is null ? "Stream closed while sending the request" : $"Stream closed while sending the request: {cause.Message}", cause, _received);
        }
        catch (HttpProtocolError e)
        {
            Stream.Close(e);
            throw;
        }
        finally
        {
            loop.RemoveTimeout(timer);
            registration.Dispose();
            ReleaseBody();
            _fetch = null!;
            _request = null!;
            _url = null!;
            _redirectUrl = null;
            _sendFailure = null;
            AbandonUpload();
            _uploadError = null;
        }
    }

    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<Outcome> ExchangeAsync()
    {
        HttpRequest request = _request;
        bool hasBody = request.Body is not null || request.BodyProducer is not null;
        bool expectContinue = request.Expect100Continue == true && hasBody;
        bool chunkedUpload = request.BodyProducer is not null && request.HeadersOrNull?.Contains("Content-Length") != true;
        _fetch.Mark(FetchTimes.PreTransfer);
        _bodySent = false;
        _sendFailure = null;
        _uploadStopped = false;
        ValueTask sending = SendRequestAsync(chunkedUpload, expectContinue);
        if (hasBody && !expectContinue && !sending.IsCompleted)
        {
            // The upload waits for the socket: the answer is read meanwhile (see WatchUpload).
            WatchUpload(sending);
        }
        else
        {
            await sending.ConfigureAwait(false);
        }

        await ReadFinalHeadAsync(chunkedUpload, expectContinue).ConfigureAwait(false);
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

        HttpRequest? redirect = RedirectFor(code, headers);
        long contentLength = ContentLength(headers);
        if (redirect is null && request.HeaderCallback is { } headerCallback)
        {
            foreach (string line in response.RawLines!)
            {
                headerCallback(line);
            }
        }

        // The body of a redirect that is followed is read and dropped (so the connection can be
        // reused), and counted against MaxBodySize like any other.
        BodyFraming framing = ChooseFraming(code, headers, contentLength, keep: redirect is null);
        PrepareBody(headers, contentLength, keep: redirect is null);
        bool framed = await ReadBodyAsync(framing, contentLength).ConfigureAwait(false);
        FinishBody();
        if (_upload is { } upload)
        {
            if (_uploadStopped)
            {
                AbandonUpload();
            }
            else
            {
                await upload.ConfigureAwait(true);
                _upload = null;
                _uploadError?.Throw();
            }
        }

        bool keepAlive = code != 101 && !_uploadStopped && _bodySent && _sendFailure is null && WantsKeepAlive(response)
            && framed && !Stream.IsClosed && Stream.BufferedByteCount == 0;
        if (redirect is not null)
        {
            return new Outcome(null, redirect, _redirectUrl, keepAlive);
        }

        if (_decoder is not null)
        {
            headers.Add("X-Consumed-Content-Encoding", headers["Content-Encoding"]);
            headers.Remove("Content-Encoding");
        }

        _fetch.Mark(FetchTimes.Total);
        var result = new HttpResponse(
            _fetch.Original,
            code,
            response.Reason,
            headers,
            TakeBody(),
            request.Url,
            requestTime: _fetch.Elapsed(),
            startTime: _fetch.StartTime,
            timeInfo: _fetch.Times);
        return new Outcome(result, null, null, keepAlive);
    }

    /// <summary>
    /// Reads response heads until the final one into <see cref="_head"/>: the body goes out on a
    /// 100 Continue, other informational responses are skipped (at most
    /// <see cref="MaxInformationalResponses"/>), and when sending failed and no head arrives the
    /// send's failure is the exchange's.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ReadFinalHeadAsync(bool chunkedUpload, bool expectContinue)
    {
        ResponseHead response = _head;
        int informational = 0;
        while (true)
        {
            try
            {
                await ReadHeadAsync().ConfigureAwait(false);
            }
            catch (HttpStreamClosedError) when (_sendFailure is not null && !ResponseStarted)
            {
                // No answer came: the failed write is what went wrong.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_sendFailure);
            }

            if (response.Code == 100 && expectContinue && !_bodySent && _sendFailure is null && _upload is null)
            {
                ValueTask sending = SendBodyAsync(chunkedUpload);
                if (sending.IsCompleted)
                {
                    await sending.ConfigureAwait(false);
                }
                else
                {
                    // The answer may still come before the body is all sent (see WatchUpload);
                    // another 100 meanwhile is only informational.
                    WatchUpload(sending);
                }

                continue;
            }

            if (response.Code is >= 100 and < 200 && response.Code != 101)
            {
                // Informational responses are skipped (RFC 9110 §15.2). A server sends one or two
                // (a 100 Continue, a 103 Early Hints); an endless stream of them would hold the
                // exchange until its timeout, or forever without one, so a few more than any real
                // server sends is a protocol error.
                if (++informational > MaxInformationalResponses)
                {
                    throw new HttpProtocolError($"More than {MaxInformationalResponses} informational (1xx) responses", $"{response.Version} {response.Code} {response.Reason}");
                }

                continue;
            }

            return;
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
