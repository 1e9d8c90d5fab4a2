using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace Loop.Http.Simple;

/// <summary>
/// One HTTP/1.1 request and its response over one connection (Tornado's <c>_HTTPConnection</c>
/// with <c>HTTP1Connection</c>'s client side): writes the request, parses the response straight
/// from the stream's buffer, decodes the body as it arrives, and says whether the connection
/// can be kept.
/// </summary>
internal sealed class Http1Exchange
{
    private static readonly int[] s_redirectCodes = [301, 302, 303, 307, 308];

    private readonly SimpleAsyncHttpClient _client;
    private readonly FetchState _fetch;
    private readonly HttpRequest _request;
    private readonly IOStream _stream;
    private readonly Uri _uri;
    private readonly PipeReader _input;
    private Exception? _abortError;
    private ContentDecoder? _decoder;
    private ArrayBufferWriter<byte>? _body;
    private Action<ReadOnlyMemory<byte>>? _streaming;
    private Action<ReadOnlyMemory<byte>>? _deliverDecoded;
    private long _bodyLimit;
    private long _bodyBytes;

    public Http1Exchange(SimpleAsyncHttpClient client, FetchState fetch, IOStream stream, Uri uri)
    {
        _client = client;
        _fetch = fetch;
        _request = fetch.Request;
        _stream = stream;
        _uri = uri;
        _input = stream.Input;
    }

    /// <summary>Whether any byte of the response arrived (a failure before that may be retried on a new connection).</summary>
    public bool ResponseStarted { get; private set; }

    /// <summary>Ends the exchange at once with <paramref name="error"/> (a timeout, a cancellation, the client closing).</summary>
    public void Abort(Exception error)
    {
        _abortError ??= error;
        _stream.Close(error);
    }

    public async Task<Outcome> RunAsync()
    {
        IOLoop loop = _client.Loop;
        TimeoutHandle timer = double.IsPositiveInfinity(_fetch.Deadline)
            ? default
            : loop.CallAt(_fetch.Deadline, static state => ((Http1Exchange)state!).Abort(new HttpTimeoutError("Timeout during request")), this);
        using CancellationTokenRegistration registration = _fetch.CancellationToken.CanBeCanceled
            ? _fetch.CancellationToken.UnsafeRegister(static state => ((Http1Exchange)state!).CancelFromAnyThread(), this)
            : default;
        try
        {
            return await ExchangeAsync().ConfigureAwait(true);
        }
        catch (Exception e) when (_abortError is not null && e is not ArgumentException)
        {
            throw _abortError is OperationCanceledException ? new OperationCanceledException(_fetch.CancellationToken) : _abortError;
        }
        catch (StreamClosedException e)
        {
            Exception? cause = e.InnerException ?? _stream.Error;
            throw new HttpStreamClosedError(cause is null ? "Stream closed" : $"Stream closed: {cause.Message}", cause);
        }
        catch (HttpProtocolError e)
        {
            _stream.Close(e);
            throw;
        }
        finally
        {
            loop.RemoveTimeout(timer);
            _decoder?.Dispose();
        }
    }

    private void CancelFromAnyThread() =>
        _client.Loop.AddCallback(static state => ((Http1Exchange)state!).Abort(new OperationCanceledException()), this);

    private async Task<Outcome> ExchangeAsync()
    {
        bool expectContinue = _request.Expect100Continue == true && (_request.Body is not null || _request.BodyProducer is not null);
        bool chunkedUpload = _request.BodyProducer is not null && !_request.Headers.Contains("Content-Length");
        byte[] head = BuildHead(chunkedUpload, expectContinue);
        bool bodySent = false;
        if (!expectContinue && _request.Body is { Length: > 0 and <= 64 * 1024 } small)
        {
            // One write (one send) for a small request.
            byte[] both = new byte[head.Length + small.Length];
            head.CopyTo(both, 0);
            small.CopyTo(both, head.Length);
            await _stream.WriteAsync(both).ConfigureAwait(true);
            bodySent = true;
        }
        else
        {
            await _stream.WriteAsync(head).ConfigureAwait(true);
            if (!expectContinue)
            {
                await WriteBodyAsync(chunkedUpload).ConfigureAwait(true);
                bodySent = true;
            }
        }

        ResponseHead response;
        while (true)
        {
            response = await ReadHeadAsync().ConfigureAwait(true);
            if (response.Code == 100 && expectContinue && !bodySent)
            {
                await WriteBodyAsync(chunkedUpload).ConfigureAwait(true);
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

        HttpRequest? redirect = RedirectFor(response);
        bool keepAlive = response.Code != 101 && bodySent && WantsKeepAlive(response);
        if (redirect is null)
        {
            if (_request.HeaderCallback is { } headerCallback)
            {
                foreach (string line in response.RawLines!)
                {
                    headerCallback(line);
                }
            }

            PrepareBody(response);
        }
        else
        {
            // The body of a redirect that is followed is read and dropped, so the connection can be reused.
            _bodyLimit = _client.MaxBodySize;
            _deliverDecoded = static _ => { };
        }

        bool framed = response.Code == 101 || await ReadBodyAsync(response).ConfigureAwait(true);
        keepAlive &= framed && !_stream.IsClosed && _stream.BufferedByteCount == 0;
        if (redirect is not null)
        {
            return new Outcome(null, redirect, keepAlive);
        }

        if (_decoder is not null)
        {
            response.Headers.Add("X-Consumed-Content-Encoding", response.Headers["Content-Encoding"]);
            response.Headers.Remove("Content-Encoding");
        }

        _fetch.SetTime("total", _fetch.Elapsed());
        var result = new HttpResponse(
            _fetch.Original,
            response.Code,
            response.Reason,
            response.Headers,
            _body is null ? [] : _body.WrittenSpan.ToArray(),
            _request.Url,
            requestTime: _fetch.Elapsed(),
            startTime: _fetch.StartTime,
            timeInfo: _fetch.TimeInfo);
        return new Outcome(result, null, keepAlive);
    }

    private byte[] BuildHead(bool chunkedUpload, bool expectContinue)
    {
        HttpHeaders headers = _request.Headers;
        var text = new StringBuilder(256);
        string target = _uri.GetComponents(UriComponents.PathAndQuery, UriFormat.UriEscaped);
        text.Append(_request.Method).Append(' ').Append(target.Length == 0 ? "/" : target).Append(" HTTP/1.1\r\n");
        if (!headers.Contains("Host"))
        {
            string host = _uri.IsDefaultPort ? _uri.IdnHost : $"{_uri.IdnHost}:{_uri.Port}";
            if (_uri.HostNameType == UriHostNameType.IPv6 && !host.StartsWith('['))
            {
                host = _uri.IsDefaultPort ? $"[{_uri.IdnHost}]" : $"[{_uri.IdnHost}]:{_uri.Port}";
            }

            Append(text, "Host", host);
        }

        if (_request.UserAgent is { } agent)
        {
            Append(text, "User-Agent", agent);
        }
        else if (!headers.Contains("User-Agent"))
        {
            Append(text, "User-Agent", SimpleAsyncHttpClient.DefaultUserAgent);
        }

        if (_request.DecompressResponse == true && !headers.Contains("Accept-Encoding"))
        {
            Append(text, "Accept-Encoding", "gzip, deflate, br");
        }

        if (_request.IfModifiedSince is { } since)
        {
            Append(text, "If-Modified-Since", HttpSyntax.FormatDate(since));
        }

        (string? user, string? password) = Credentials();
        bool sendAuthorization = user is not null;
        if (_request.Body is { } body)
        {
            if (!headers.Contains("Content-Length"))
            {
                Append(text, "Content-Length", body.Length.ToString(CultureInfo.InvariantCulture));
            }

            if (_request.Method == "POST" && !headers.Contains("Content-Type"))
            {
                Append(text, "Content-Type", "application/x-www-form-urlencoded");
            }
        }
        else if (chunkedUpload)
        {
            Append(text, "Transfer-Encoding", "chunked");
        }

        if (expectContinue)
        {
            Append(text, "Expect", "100-continue");
        }

        foreach (KeyValuePair<string, string> field in headers)
        {
            if ((sendAuthorization && field.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                || (_request.UserAgent is not null && field.Key.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            Append(text, field.Key, field.Value);
        }

        if (sendAuthorization)
        {
            // RFC 7617: user-pass in UTF-8 (after NFC normalisation), base64.
            string pair = $"{user!.Normalize(NormalizationForm.FormC)}:{(password ?? string.Empty).Normalize(NormalizationForm.FormC)}";
            Append(text, "Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));
        }

        text.Append("\r\n");

        // Field values go out as ISO-8859-1, as Tornado sends them.
        return Encoding.Latin1.GetBytes(text.ToString());
    }

    private static void Append(StringBuilder text, string name, string value) => text.Append(name).Append(": ").Append(value).Append("\r\n");

    private (string? User, string? Password) Credentials()
    {
        if (_request.AuthUsername is { } user)
        {
            return (user, _request.AuthPassword);
        }

        if (_uri.UserInfo.Length == 0)
        {
            return (null, null);
        }

        int colon = _uri.UserInfo.IndexOf(':');
        return colon < 0
            ? (Uri.UnescapeDataString(_uri.UserInfo), null)
            : (Uri.UnescapeDataString(_uri.UserInfo[..colon]), Uri.UnescapeDataString(_uri.UserInfo[(colon + 1)..]));
    }

    private async Task WriteBodyAsync(bool chunked)
    {
        if (_request.Body is { Length: > 0 } body)
        {
            await _stream.WriteAsync(body).ConfigureAwait(true);
            return;
        }

        if (_request.BodyProducer is not { } producer)
        {
            return;
        }

        long declared = _request.Headers.TryGetValue("Content-Length", out string? length) && long.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : -1;
        long written = 0;
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
                await _stream.WriteAsync(Encoding.ASCII.GetBytes($"{data.Length:x}\r\n")).ConfigureAwait(true);
                await _stream.WriteAsync(data).ConfigureAwait(true);
                await _stream.WriteAsync("\r\n"u8.ToArray()).ConfigureAwait(true);
            }
            else
            {
                await _stream.WriteAsync(data).ConfigureAwait(true);
            }
        }).ConfigureAwait(true);

        if (chunked)
        {
            await _stream.WriteAsync("0\r\n\r\n"u8.ToArray()).ConfigureAwait(true);
        }
        else if (declared >= 0 && written != declared)
        {
            throw new InvalidOperationException($"The body producer wrote {written} bytes, not the Content-Length of {declared}.");
        }
    }

    private async Task<ResponseHead> ReadHeadAsync()
    {
        int max = _client.MaxHeaderSize;
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(true);
            ReadOnlySequence<byte> buffer = read.Buffer;
            ResponseStarted |= !buffer.IsEmpty;
            long end = ResponseHead.FindEnd(buffer, out long skipped);
            if (end >= 0 && end - skipped <= max)
            {
                ResponseHead head;
                ReadOnlySequence<byte> block = buffer.Slice(skipped, end - skipped);
                if (block.IsSingleSegment)
                {
                    head = Parse(block.FirstSpan);
                }
                else
                {
                    byte[] copy = ArrayPool<byte>.Shared.Rent((int)block.Length);
                    try
                    {
                        block.CopyTo(copy);
                        head = Parse(copy.AsSpan(0, (int)block.Length));
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(copy);
                    }
                }

                _input.AdvanceTo(buffer.GetPosition(end));
                return head;
            }

            WaitForMore(read, end >= 0 || buffer.Length - skipped > max ? $"Response headers are larger than MaxHeaderSize ({max} bytes)" : null);
        }
    }

    private ResponseHead Parse(ReadOnlySpan<byte> block) => ResponseHead.Parse(block, keepRawLines: _request.HeaderCallback is not null);

    /// <summary>The exception for a stream that ended before the response did.</summary>
    private Exception Closed()
    {
        if (_abortError is not null)
        {
            return _abortError;
        }

        Exception? cause = _stream.Error;
        return new HttpStreamClosedError(cause is null ? "Stream closed" : $"Stream closed: {cause.Message}", cause);
    }

    private HttpRequest? RedirectFor(ResponseHead response)
    {
        if (_request.FollowRedirects != true || _request.MaxRedirects <= 0 || Array.IndexOf(s_redirectCodes, response.Code) < 0
            || !response.Headers.TryGetValue("Location", out string? location))
        {
            return null;
        }

        if (!Uri.TryCreate(_uri, location, out Uri? target) || target.Scheme is not ("http" or "https"))
        {
            // Only http and https targets are followed; the 3xx itself is returned.
            return null;
        }

        HttpRequest next = _request with { Url = target.AbsoluteUri, MaxRedirects = _request.MaxRedirects - 1 };
        next.Headers = _request.Headers.Copy();
        next.Headers.Remove("Host");
        if ((response.Code is 301 or 302 && _request.Method == "POST") || (response.Code == 303 && _request.Method != "HEAD"))
        {
            // RFC 9110 §15.4: the redirected request is a GET without the body.
            next.Method = "GET";
            next.Body = null;
            next.BodyProducer = null;
            foreach (string name in new[] { "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding" })
            {
                next.Headers.Remove(name);
            }
        }

        if (!SameOrigin(_uri, target))
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

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && a.Port == b.Port && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase);

    private bool WantsKeepAlive(ResponseHead response)
    {
        string? connection = response.Headers.Get("Connection");
        if (connection is not null && HasToken(connection, "close"))
        {
            return false;
        }

        if (_request.Headers.Get("Connection") is { } asked && HasToken(asked, "close"))
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

    private void PrepareBody(ResponseHead response)
    {
        _streaming = _request.StreamingCallback;
        // The stream's buffer only ever holds a read's worth, so MaxBufferSize does not bound the
        // body (as in Tornado, whose MaxBufferSizeTest receives a body larger than the buffer).
        _bodyLimit = _client.MaxBodySize;
        if (_request.DecompressResponse == true && response.Headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            _decoder = ContentDecoder.For(encoding);
        }

        if (_streaming is null)
        {
            _body = new ArrayBufferWriter<byte>();
        }

        _deliverDecoded = DeliverDecoded;
    }

    /// <summary>Reads the body as framed; returns whether the framing ended it (false: read until close, so the connection is done).</summary>
    private async Task<bool> ReadBodyAsync(ResponseHead response)
    {
        HttpHeaders headers = response.Headers;
        long contentLength = ContentLength(headers);
        bool chunked = headers.TryGetValue("Transfer-Encoding", out string? codings) && IsChunked(codings);
        if (codings is not null && contentLength >= 0)
        {
            throw new HttpProtocolError("Message with both Transfer-Encoding and Content-Length");
        }

        if (_request.Method == "HEAD" || response.Code == 304)
        {
            return true;
        }

        if (response.Code == 204)
        {
            if (contentLength > 0 || chunked)
            {
                throw new HttpProtocolError($"Response with code {response.Code} should not have body");
            }

            return true;
        }

        if (chunked)
        {
            await ReadChunkedAsync().ConfigureAwait(true);
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

            await ReadExactlyAsync(contentLength).ConfigureAwait(true);
            return true;
        }

        // No framing: the body runs until the server closes the connection (RFC 9112 §6.3).
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(true);
            Deliver(read.Buffer);
            _input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                if (_abortError is not null || _stream.Error is not null)
                {
                    throw Closed();
                }

                return false;
            }
        }
    }

    private static long ContentLength(HttpHeaders headers)
    {
        IReadOnlyList<string> values = headers.GetAll("Content-Length");
        if (values.Count == 0)
        {
            return -1;
        }

        long length = -1;
        foreach (string value in values)
        {
            foreach (Range part in value.AsSpan().Split(','))
            {
                ReadOnlySpan<byte> digits = Encoding.ASCII.GetBytes(value[part].Trim());
                if (digits.IsEmpty || digits.ContainsAnyExceptInRange((byte)'0', (byte)'9') || !Utf8Parser.TryParse(digits, out long n, out int used) || used != digits.Length)
                {
                    throw new HttpProtocolError($"Only integer Content-Length is allowed: {value}");
                }

                if (length >= 0 && n != length)
                {
                    throw new HttpProtocolError($"Multiple unequal Content-Lengths: {string.Join(", ", values)}");
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

    private async Task ReadExactlyAsync(long count)
    {
        long expected = count;
        while (count > 0)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(true);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.IsEmpty && read.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                throw _abortError ?? new HttpStreamClosedError($"Stream closed after {expected - count} of {expected} body bytes", _stream.Error);
            }

            ReadOnlySequence<byte> take = buffer.Slice(0, Math.Min(count, buffer.Length));
            Deliver(take);
            count -= take.Length;
            _input.AdvanceTo(take.End);
        }
    }

    private async Task ReadChunkedAsync()
    {
        while (true)
        {
            string line = await ReadLineAsync(4096, "chunk size line").ConfigureAwait(true);
            ReadOnlySpan<char> size = line.AsSpan();
            int semicolon = size.IndexOf(';');
            if (semicolon >= 0)
            {
                size = size[..semicolon];
            }

            size = size.TrimEnd(" \t");
            if (size.IsEmpty || size.Length > 15 || !long.TryParse(size, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long length))
            {
                throw new HttpProtocolError($"Invalid chunk size: {line}");
            }

            if (length == 0)
            {
                // Trailer fields, then the empty line (RFC 9112 §7.1.2); they are read and not kept.
                int trailerBytes = 0;
                while (true)
                {
                    string trailer = await ReadLineAsync(_client.MaxHeaderSize, "trailer").ConfigureAwait(true);
                    if (trailer.Length == 0)
                    {
                        return;
                    }

                    trailerBytes += trailer.Length;
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

            await ReadExactlyAsync(length).ConfigureAwait(true);
            string end = await ReadLineAsync(2, "chunk end").ConfigureAwait(true);
            if (end.Length != 0)
            {
                throw new HttpProtocolError("Malformed chunked body: chunk data not followed by CRLF");
            }
        }
    }

    /// <summary>A line (without its CRLF or LF) of at most <paramref name="max"/> bytes.</summary>
    private async Task<string> ReadLineAsync(int max, string what)
    {
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(true);
            ReadOnlySequence<byte> buffer = read.Buffer;
            SequencePosition? lf = buffer.PositionOf((byte)'\n');
            if (lf is { } position)
            {
                ReadOnlySequence<byte> line = buffer.Slice(0, position);
                if (line.Length > max + 1)
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    throw new HttpProtocolError($"The {what} is longer than {max} bytes");
                }

                string text = Encoding.Latin1.GetString(line);
                _input.AdvanceTo(buffer.GetPosition(1, position));
                return text.EndsWith('\r') ? text[..^1] : text;
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
                _decoder.Decode(segment, _deliverDecoded!);
            }
            else
            {
                _deliverDecoded!(segment);
            }
        }
    }

    private void DeliverDecoded(ReadOnlyMemory<byte> data)
    {
        _bodyBytes += data.Length;
        if (_bodyBytes > _bodyLimit)
        {
            throw new HttpProtocolError($"Body larger than the limit of {_bodyLimit} bytes");
        }

        if (_streaming is not null)
        {
            _streaming(data);
        }
        else
        {
            _body!.Write(data.Span);
        }
    }

    /// <summary>How an exchange ended: a response, or a request to follow, and whether the connection can be kept.</summary>
    internal readonly record struct Outcome(HttpResponse? Response, HttpRequest? Redirect, bool KeepAlive);
}
