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
/// the sequence of an exchange, aborting and cancelling); <c>.Request.cs</c> writing the request;
/// <c>.Framing.cs</c> reading the response head and the framing of its body;
/// <c>.Body.cs</c> delivering, decoding and keeping the body; <c>.Policy.cs</c> redirects and keep-alive.
/// </remarks>
internal sealed partial class Http1Connection
{
    private readonly SimpleAsyncHttpClient _client;
    private readonly PipeReader _input;
    private readonly ResponseHead _head = new();

    // The exchange under way (reset by RunAsync).
    private FetchState _fetch = null!;
    private HttpRequest _request = null!;
    private RequestUrl _url = null!;
    private int _generation;
    private Exception? _abortError;

    public Http1Connection(SimpleAsyncHttpClient client, IOStream stream, OriginKey origin, bool viaProxy)
    {
        _client = client;
        Stream = stream;
        Origin = origin;
        ViaProxy = viaProxy;
        _input = stream.Input;
        _deliverDecoded = DeliverDecoded;
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

    /// <summary>Ends the exchange at once with <paramref name="error"/> (a timeout, a cancellation, the client closing).</summary>
    public void Abort(Exception error)
    {
        _abortError ??= error;
        Stream.Close(error);
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
        catch (StreamClosedException e)
        {
            Exception? cause = e.InnerException ?? Stream.Error;
            throw new HttpStreamClosedError(cause is null ? "Stream closed" : $"Stream closed: {cause.Message}", cause);
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
            _decoder?.Dispose();
            _decoder = null;
            _streaming = null;
            _asyncStreaming = null;
            _deliver = _deliverDecoded;
            ReleaseBody();
            _fetch = null!;
            _request = null!;
            _url = null!;
            _redirectUrl = null;
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
        PipeWriter output = Stream.Output;
        WriteHead(output, chunkedUpload, expectContinue);
        bool bodySent = false;
        if (!expectContinue && request.Body is { Length: > 0 and <= SmallBody } small)
        {
            // One send for a small request.
            output.Write(small);
            bodySent = true;
        }

        await output.FlushAsync().ConfigureAwait(false);
        if (!expectContinue && !bodySent)
        {
            await WriteBodyAsync(chunkedUpload).ConfigureAwait(false);
            bodySent = true;
        }

        ResponseHead response = _head;
        while (true)
        {
            await ReadHeadAsync().ConfigureAwait(false);
            if (response.Code == 100 && expectContinue && !bodySent)
            {
                await WriteBodyAsync(chunkedUpload).ConfigureAwait(false);
                bodySent = true;
                continue;
            }

            if (response.Code is >= 100 and < 200 && response.Code != 101)
            {
                // Informational responses are skipped (RFC 9110 §15.2).
                continue;
            }

            break;
        }

        HttpHeaders headers = response.Headers;
        int code = response.Code;
        HttpRequest? redirect = RedirectFor(code, headers);
        bool keepAlive = code != 101 && bodySent && WantsKeepAlive(response);
        long contentLength = ContentLength(headers);
        if (redirect is null)
        {
            if (request.HeaderCallback is { } headerCallback)
            {
                foreach (string line in response.RawLines!)
                {
                    headerCallback(line);
                }
            }

            PrepareBody(headers, contentLength);
        }
        else
        {
            // The body of a redirect that is followed is read and dropped, so the connection can be reused.
            _bodyLimit = _client.MaxBodySize;
            _deliver = s_discard;
        }

        bool framed = code == 101 || await ReadBodyAsync(code, headers, contentLength).ConfigureAwait(false);
        _decoder?.Finish(_deliver);
        keepAlive &= framed && !Stream.IsClosed && Stream.BufferedByteCount == 0;
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

    /// <summary>The exception for a stream that ended before the response did.</summary>
    private Exception Closed()
    {
        if (_abortError is not null)
        {
            return _abortError;
        }

        Exception? cause = Stream.Error;
        return new HttpStreamClosedError(cause is null ? "Stream closed" : $"Stream closed: {cause.Message}", cause);
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
