using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Loop.Http.Decoding;
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
internal sealed class Http1Connection
{
    private const int SmallBody = 64 * 1024;

    // A body of a known length up to this is read into an array of exactly its size.
    private const int ExactBodyLimit = 1024 * 1024;

    private static readonly Action<ReadOnlyMemory<byte>> s_discard = static _ => { };

    private readonly SimpleAsyncHttpClient _client;
    private readonly PipeReader _input;
    private readonly ResponseHead _head = new();
    private readonly Action<ReadOnlyMemory<byte>> _deliverDecoded;

    // The exchange under way (reset by RunAsync).
    private FetchState _fetch = null!;
    private HttpRequest _request = null!;
    private RequestUrl _url = null!;
    private int _generation;
    private Exception? _abortError;
    private ContentDecoder? _decoder;
    private Action<ReadOnlyMemory<byte>>? _streaming;
    private Func<ReadOnlyMemory<byte>, ValueTask>? _asyncStreaming;
    private Action<ReadOnlyMemory<byte>> _deliver;
    private RequestUrl? _redirectUrl;
    private byte[]? _chunkLine;
    private byte[]? _body;
    private int _bodyLength;
    private bool _bodyRented;
    private long _bodyLimit;
    private long _bodyBytes;

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

    /// <summary>The request line and headers, straight into the stream's write buffer.</summary>
    private void WriteHead(PipeWriter output, bool chunkedUpload, bool expectContinue)
    {
        AssertOnLoop();
        HttpRequest request = _request;
        RequestUrl url = _url;
        HttpHeaders? headers = request.HeadersOrNull;
        Put(output, request.Method);
        Put(output, " "u8);
        if (ViaProxy)
        {
            // Absolute form to a proxy (RFC 9112 §3.2.2).
            Put(output, url.SchemeHostPort);
        }

        Put(output, url.Target);
        Put(output, " HTTP/1.1\r\n"u8);
        if (headers?.Contains("Host") != true)
        {
            Field(output, "Host", url.HostHeader);
        }

        if (request.UserAgent is { } agent)
        {
            Field(output, "User-Agent", agent);
        }
        else if (headers?.Contains("User-Agent") != true)
        {
            Field(output, "User-Agent", SimpleAsyncHttpClient.DefaultUserAgent);
        }

        if (request.DecompressResponse == true && headers?.Contains("Accept-Encoding") != true)
        {
            Field(output, "Accept-Encoding", "gzip, deflate, br");
        }

        if (request.IfModifiedSince is { } since)
        {
            Field(output, "If-Modified-Since", HttpSyntax.FormatDate(since));
        }

        string? user = request.AuthUsername ?? url.User;
        string? password = request.AuthUsername is not null ? request.AuthPassword : url.Password;
        bool sendAuthorization = user is not null;
        if (request.Body is { } body)
        {
            if (headers?.Contains("Content-Length") != true)
            {
                Put(output, "Content-Length: "u8);
                int written = body.Length.TryFormat(output.GetSpan(11), out int n, default, CultureInfo.InvariantCulture) ? n : 0;
                output.Advance(written);
                Put(output, "\r\n"u8);
            }

            if (request.Method == "POST" && headers?.Contains("Content-Type") != true)
            {
                Field(output, "Content-Type", "application/x-www-form-urlencoded");
            }
        }
        else if (chunkedUpload)
        {
            Field(output, "Transfer-Encoding", "chunked");
        }

        if (expectContinue)
        {
            Field(output, "Expect", "100-continue");
        }

        bool sendProxyAuthorization = ViaProxy && request.ProxyUsername is not null;
        if (headers is not null)
        {
            foreach (KeyValuePair<string, string> field in headers)
            {
                if ((sendAuthorization && field.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                    || (sendProxyAuthorization && field.Key.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase))
                    || (request.UserAgent is not null && field.Key.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                Field(output, field.Key, field.Value);
            }
        }

        if (sendAuthorization)
        {
            Field(output, "Authorization", BasicCredentials(user!, password));
        }

        if (sendProxyAuthorization)
        {
            Field(output, "Proxy-Authorization", BasicCredentials(request.ProxyUsername!, request.ProxyPassword));
        }

        Put(output, "\r\n"u8);
    }

    /// <summary>The value of a basic Authorization header: user-pass in UTF-8 after NFC normalisation, base64 (RFC 7617).</summary>
    internal static string BasicCredentials(string user, string? password)
    {
        string pair = $"{user.Normalize(NormalizationForm.FormC)}:{(password ?? string.Empty).Normalize(NormalizationForm.FormC)}";
        return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(pair));
    }

    internal static void Field(PipeWriter output, string name, string value)
    {
        Put(output, name);
        Put(output, ": "u8);
        Put(output, value);
        Put(output, "\r\n"u8);
    }

    /// <summary>Text as sent on the wire: ISO-8859-1, as Tornado sends field values.</summary>
    internal static void Put(PipeWriter output, string text)
    {
        Span<byte> span = output.GetSpan(text.Length);
        output.Advance(Encoding.Latin1.GetBytes(text, span));
    }

    private static void Put(PipeWriter output, ReadOnlySpan<byte> bytes) => output.Write(bytes);

    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask WriteBodyAsync(bool chunked)
    {
        HttpRequest request = _request;
        if (request.Body is { Length: > 0 } body)
        {
            await Stream.WriteAsync(body).ConfigureAwait(false);
            return;
        }

        if (request.BodyProducer is { } producer)
        {
            await ProduceBodyAsync(producer, chunked).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the body producer (its own method: the closure it needs is made only for requests that have one).</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ProduceBodyAsync(Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task> producer, bool chunked)
    {
        HttpRequest request = _request;
        long declared = request.HeadersOrNull?.TryGetValue("Content-Length", out string? length) == true && long.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : -1;
        long written = 0;
        bool first = true;
        PipeWriter output = Stream.Output;
        await producer(async data =>
        {
            if (data.IsEmpty)
            {
                return;
            }

            written += data.Length;
            if (declared >= 0 && written > declared)
            {
                throw new InvalidOperationException($"The body producer wrote more than the Content-Length of {declared} bytes.");
            }

            if (chunked)
            {
                // The end of the previous chunk and this one's size go out with its data.
                if (!first)
                {
                    Put(output, "\r\n"u8);
                }

                Put(output, data.Length.ToString("x", CultureInfo.InvariantCulture));
                Put(output, "\r\n"u8);
                first = false;
            }

            await Stream.WriteAsync(data).ConfigureAwait(true);
        }).ConfigureAwait(true);

        if (chunked)
        {
            Put(output, first ? "0\r\n\r\n"u8 : "\r\n0\r\n\r\n"u8);
            await output.FlushAsync().ConfigureAwait(false);
        }
        else if (declared >= 0 && written != declared)
        {
            throw new InvalidOperationException($"The body producer wrote {written} bytes, not the Content-Length of {declared}.");
        }
    }

    /// <summary>Reads and parses the next response head into <see cref="_head"/>.</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ReadHeadAsync()
    {
        int max = _client.MaxHeaderSize;
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(false);
            AssertOnLoop();
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (!ResponseStarted && !buffer.IsEmpty)
            {
                ResponseStarted = true;
                _fetch.Mark(FetchTimes.StartTransfer);
            }

            long end = ResponseHead.FindEnd(buffer, out long skipped);
            if (end >= 0 && end - skipped <= max)
            {
                ReadOnlySequence<byte> block = buffer.Slice(skipped, end - skipped);
                if (block.IsSingleSegment)
                {
                    Parse(block.FirstSpan);
                }
                else
                {
                    byte[] copy = ArrayPool<byte>.Shared.Rent((int)block.Length);
                    try
                    {
                        block.CopyTo(copy);
                        Parse(copy.AsSpan(0, (int)block.Length));
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(copy);
                    }
                }

                _input.AdvanceTo(buffer.GetPosition(end));
                return;
            }

            WaitForMore(read, end >= 0 || buffer.Length - skipped > max ? $"Response headers are larger than MaxHeaderSize ({max} bytes)" : null);
        }
    }

    private void Parse(ReadOnlySpan<byte> block) => _head.Parse(block, keepRawLines: _request.HeaderCallback is not null);

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

    private HttpRequest? RedirectFor(int code, HttpHeaders headers)
    {
        if (_request.FollowRedirects != true || _request.MaxRedirects <= 0 || code is not (301 or 302 or 303 or 307 or 308)
            || !headers.TryGetValue("Location", out string? location))
        {
            return null;
        }

        if (!Uri.TryCreate(_url.Uri, location, out Uri? target) || target.Scheme is not ("http" or "https"))
        {
            // Only http and https targets are followed; the 3xx itself is returned.
            return null;
        }

        HttpRequest next = _request with { Url = target.AbsoluteUri, MaxRedirects = _request.MaxRedirects - 1 };
        next.Headers = _request.HeadersOrNull?.Copy() ?? new HttpHeaders();
        next.Headers.Remove("Host");
        if ((code is 301 or 302 && _request.Method == "POST") || (code == 303 && _request.Method != "HEAD"))
        {
            // RFC 9110 §15.4: the redirected request is a GET without the body.
            next.Method = "GET";
            next.Body = null;
            next.BodyProducer = null;
            foreach (string name in (ReadOnlySpan<string>)["Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"])
            {
                next.Headers.Remove(name);
            }
        }

        _redirectUrl = RequestUrl.For(target);
        if (!_url.SameOrigin(_redirectUrl))
        {
            // Credentials are for the origin they were given for.
            next.Headers.Remove("Authorization");
            next.Headers.Remove("Cookie");
            next.Headers.Remove("Proxy-Authorization");
            next.AuthUsername = null;
            next.AuthPassword = null;
            next.ProxyUsername = null;
            next.ProxyPassword = string.Empty;
        }

        return next;
    }

    private bool WantsKeepAlive(ResponseHead response)
    {
        string? connection = response.Headers.Get("Connection");
        if (connection is not null && HasToken(connection, "close"))
        {
            return false;
        }

        if (_request.HeadersOrNull?.Get("Connection") is { } asked && HasToken(asked, "close"))
        {
            return false;
        }

        return response.Version == "HTTP/1.1" || (connection is not null && HasToken(connection, "keep-alive"));
    }

    private static bool HasToken(string list, string token)
    {
        foreach (Range part in list.AsSpan().Split(','))
        {
            if (list.AsSpan()[part].Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private void PrepareBody(HttpHeaders headers, long contentLength)
    {
        _streaming = _request.StreamingCallback;
        _asyncStreaming = _request.AsyncStreamingCallback;

        // The stream's buffer only ever holds a read's worth, so MaxBufferSize does not bound the
        // body (as in Tornado, whose MaxBufferSizeTest receives a body larger than the buffer).
        _bodyLimit = _client.MaxBodySize;
        _bodyBytes = 0;
        if (_request.DecompressResponse == true && headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            // A coding we do not know leaves the body as it came, with its Content-Encoding.
            _ = ContentDecoder.TryCreate(encoding, out _decoder, out _);
        }

        if (_streaming is null && _asyncStreaming is null && _decoder is null && contentLength is > 0 and <= ExactBodyLimit && contentLength <= _bodyLimit)
        {
            // The size is known: one array of exactly that size, handed to the response as it is.
            _body = new byte[contentLength];
            _bodyRented = false;
        }

        _deliver = _deliverDecoded;
    }

    /// <summary>Reads the body as framed; returns whether the framing ended it (false: read until close, so the connection is done).</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<bool> ReadBodyAsync(int code, HttpHeaders headers, long contentLength)
    {
        bool chunked = headers.TryGetValue("Transfer-Encoding", out string? codings) && IsChunked(codings);
        if (codings is not null && contentLength >= 0)
        {
            throw new HttpProtocolError("Message with both Transfer-Encoding and Content-Length");
        }

        if (_request.Method == "HEAD" || code == 304)
        {
            return true;
        }

        if (code == 204)
        {
            if (contentLength > 0 || chunked)
            {
                throw new HttpProtocolError($"Response with code {code} should not have body");
            }

            return true;
        }

        if (chunked)
        {
            await ReadChunkedAsync().ConfigureAwait(false);
            return true;
        }

        if (codings is not null)
        {
            throw new HttpProtocolError($"Unsupported Transfer-Encoding: {codings}");
        }

        if (contentLength >= 0)
        {
            if (contentLength > _client.MaxBodySize)
            {
                throw new HttpProtocolError($"Content-Length too long: {contentLength} bytes, MaxBodySize is {_client.MaxBodySize}");
            }

            await ReadExactlyAsync(contentLength).ConfigureAwait(false);
            return true;
        }

        // No framing: the body runs until the server closes the connection (RFC 9112 §6.3).
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(false);
            Deliver(read.Buffer);
            _input.AdvanceTo(read.Buffer.End);
            await HandOverAsync().ConfigureAwait(false);
            if (read.IsCompleted)
            {
                if (_abortError is not null || Stream.Error is not null)
                {
                    throw Closed();
                }

                return false;
            }
        }
    }

    /// <summary>The Content-Length (-1 if none); repeated equal values are one value, unequal or non-numeric ones an error (RFC 9110 §8.6).</summary>
    private static long ContentLength(HttpHeaders headers)
    {
        long length = -1;
        foreach (KeyValuePair<string, string> field in headers)
        {
            if (!field.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            string value = field.Value;
            foreach (Range part in value.AsSpan().Split(','))
            {
                ReadOnlySpan<char> digits = value.AsSpan()[part].Trim(" \t");
                if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9') || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                {
                    throw new HttpProtocolError($"Only integer Content-Length is allowed: {value}");
                }

                if (length >= 0 && n != length)
                {
                    throw new HttpProtocolError($"Multiple unequal Content-Lengths: {string.Join(", ", headers.GetAll("Content-Length"))}");
                }

                length = n;
            }
        }

        return length;
    }

    private static bool IsChunked(string codings)
    {
        int comma = codings.LastIndexOf(',');
        return codings.AsSpan(comma + 1).Trim().Equals("chunked", StringComparison.OrdinalIgnoreCase);
    }

    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ReadExactlyAsync(long count)
    {
        long expected = count;
        while (count > 0)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.IsEmpty && read.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                throw _abortError ?? new HttpStreamClosedError($"Stream closed after {expected - count} of {expected} body bytes", Stream.Error);
            }

            ReadOnlySequence<byte> take = buffer.Slice(0, Math.Min(count, buffer.Length));
            Deliver(take);
            count -= take.Length;
            _input.AdvanceTo(take.End);
            await HandOverAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Gives what was received to the async streaming callback, if there is one, and waits for it: no more is read meanwhile.</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask HandOverAsync()
    {
        if (_asyncStreaming is not { } callback || _bodyLength == 0)
        {
            return;
        }

        // The caller's task may complete on any thread: resume on the loop's context.
        await callback(_body.AsMemory(0, _bodyLength)).ConfigureAwait(true);
        _bodyLength = 0;
    }

    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ReadChunkedAsync()
    {
        while (true)
        {
            long length = await ReadChunkSizeAsync().ConfigureAwait(false);
            if (length == 0)
            {
                // Trailer fields, then the empty line (RFC 9112 §7.1.2); they are read and not kept.
                long trailerBytes = 0;
                while (true)
                {
                    int trailer = await SkipLineAsync(_client.MaxHeaderSize, "trailer").ConfigureAwait(false);
                    if (trailer == 0)
                    {
                        return;
                    }

                    trailerBytes += trailer;
                    if (trailerBytes > _client.MaxHeaderSize)
                    {
                        throw new HttpProtocolError($"Trailers are larger than MaxHeaderSize ({_client.MaxHeaderSize} bytes)");
                    }
                }
            }

            if (_bodyBytes + length > _bodyLimit && _decoder is null)
            {
                throw new HttpProtocolError($"Chunked body larger than the limit of {_bodyLimit} bytes");
            }

            await ReadExactlyAsync(length).ConfigureAwait(false);
            if (await SkipLineAsync(2, "chunk end").ConfigureAwait(false) != 0)
            {
                throw new HttpProtocolError("Malformed chunked body: chunk data not followed by CRLF");
            }
        }
    }

    /// <summary>A chunk-size line: hex digits, then extensions (ignored) after a semicolon.</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<long> ReadChunkSizeAsync()
    {
        const int Max = 4096;
        byte[] line = _chunkLine ??= new byte[Max + 2];
        int length = await ReadLineAsync(Max, "chunk size line", line).ConfigureAwait(false);
        ReadOnlySpan<byte> size = line.AsSpan(0, length);
        int semicolon = size.IndexOf((byte)';');
        if (semicolon >= 0)
        {
            size = size[..semicolon];
        }

        size = size.TrimEnd(" \t"u8);
        if (size.IsEmpty || size.Length > 15 || size.ContainsAnyExcept(HexDigits)
            || !System.Buffers.Text.Utf8Parser.TryParse(size, out long chunkLength, out int used, 'X') || used != size.Length)
        {
            throw new HttpProtocolError($"Invalid chunk size: {Encoding.Latin1.GetString(line, 0, length)}");
        }

        return chunkLength;
    }

    private static readonly SearchValues<byte> HexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    /// <summary>Reads a line of at most <paramref name="max"/> bytes and returns its length without the CRLF or LF.</summary>
    private ValueTask<int> SkipLineAsync(int max, string what) => ReadLineAsync(max, what, copy: null);

    /// <summary>
    /// Reads a line of at most <paramref name="max"/> bytes (else a protocol error naming
    /// <paramref name="what"/>) and returns its length without the CRLF or LF; the line is copied
    /// into <paramref name="copy"/> (at least <paramref name="max"/> + 2 long) when given.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<int> ReadLineAsync(int max, string what, byte[]? copy)
    {
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.PositionOf((byte)'\n') is { } lf)
            {
                ReadOnlySequence<byte> line = buffer.Slice(0, lf);
                if (line.Length > max + 1)
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    throw new HttpProtocolError($"The {what} is longer than {max} bytes");
                }

                long length = line.Length;
                if (length > 0 && line.Slice(length - 1).FirstSpan[0] == (byte)'\r')
                {
                    length--;
                }

                if (copy is not null)
                {
                    line.Slice(0, length).CopyTo(copy);
                }

                _input.AdvanceTo(buffer.GetPosition(1, lf));
                return (int)length;
            }

            WaitForMore(read, buffer.Length > max + 1 ? $"The {what} is longer than {max} bytes" : null);
        }
    }

    /// <summary>
    /// What was read does not hold what is looked for: fail if it has grown too long
    /// (<paramref name="tooLong"/> says how) or the stream ended, else mark it all examined so
    /// the next read waits for more.
    /// </summary>
    private void WaitForMore(in ReadResult read, string? tooLong)
    {
        ReadOnlySequence<byte> buffer = read.Buffer;
        if (tooLong is not null)
        {
            _input.AdvanceTo(buffer.Start, buffer.End);
            throw new HttpProtocolError(tooLong);
        }

        if (read.IsCompleted)
        {
            _input.AdvanceTo(buffer.End);
            throw Closed();
        }

        _input.AdvanceTo(buffer.Start, buffer.End);
    }

    /// <summary>Raw body bytes: through the decoder if there is one, then to the body or the callback.</summary>
    private void Deliver(in ReadOnlySequence<byte> data)
    {
        foreach (ReadOnlyMemory<byte> segment in data)
        {
            if (_decoder is not null)
            {
                _decoder.Decode(segment, _deliver);
            }
            else
            {
                _deliver(segment);
            }
        }
    }

    private void DeliverDecoded(ReadOnlyMemory<byte> data)
    {
        AssertOnLoop();
        _bodyBytes += data.Length;
        if (_bodyBytes > _bodyLimit)
        {
            throw new HttpProtocolError($"Body larger than the limit of {_bodyLimit} bytes");
        }

        if (_streaming is not null)
        {
            _streaming(data);
            return;
        }

        // With an async streaming callback the array holds what is not handed over yet.

        if (_body is null || _body.Length - _bodyLength < data.Length)
        {
            GrowBody(data.Length);
        }

        data.Span.CopyTo(_body.AsSpan(_bodyLength));
        _bodyLength += data.Length;
    }

    private void GrowBody(int more)
    {
        int needed = checked(_bodyLength + more);
        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, (_body?.Length ?? 0) * 2)));
        if (_body is not null)
        {
            _body.AsSpan(0, _bodyLength).CopyTo(larger);
            if (_bodyRented)
            {
                ArrayPool<byte>.Shared.Return(_body);
            }
        }

        _body = larger;
        _bodyRented = true;
    }

    /// <summary>The body received, for the response.</summary>
    private byte[] TakeBody()
    {
        byte[]? body = _body;
        if (body is null || _bodyLength == 0 || _asyncStreaming is not null)
        {
            return [];
        }

        if (!_bodyRented && _bodyLength == body.Length)
        {
            _body = null;
            _bodyLength = 0;
            return body;
        }

        return body.AsSpan(0, _bodyLength).ToArray();
    }

    private void ReleaseBody()
    {
        if (_bodyRented && _body is not null)
        {
            ArrayPool<byte>.Shared.Return(_body);
        }

        _body = null;
        _bodyRented = false;
        _bodyLength = 0;
        _bodyBytes = 0;
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
