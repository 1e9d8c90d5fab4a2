using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Loop.Http.Simple;

/// <summary>
/// Reading the response as one state machine driven by the stream's read completions: each time
/// bytes arrive, <see cref="Consume"/> parses as far as they go, in place (the head, the body as
/// framed: a length, chunks, or until close), and the exchange waits only for the socket, an
/// async streaming callback, or an upload still going out.
/// </summary>
internal sealed partial class Http1Connection
{
    private static readonly SearchValues<byte> s_hexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    private readonly Action _onReadable;
    private ValueTaskAwaiter<ReadResult> _readAwaiter;
    private ValueTaskAwaiter _sendAwaiter;
    private Action? _onSent;
    private Action? _onHandedOver;
    private ValueTaskAwaiter _handOverAwaiter;

    // Where the response is: its state, the bytes left of a length or a chunk (of _expected), trailer bytes so far, 1xx heads skipped.
    private ReadState _state;
    private long _remaining;
    private long _expected;
    private long _trailerBytes;
    private int _informational;

    // How the request is sent (StartExchange).
    private bool _chunkedUpload;
    private bool _expectContinue;

    private byte[]? _chunkLine;

    private enum ReadState : byte
    {
        /// <summary>A response head (informational ones are skipped).</summary>
        Head,

        /// <summary>A body of <see cref="_remaining"/> more bytes.</summary>
        Length,

        /// <summary>A chunk-size line.</summary>
        ChunkSize,

        /// <summary>A chunk's data: <see cref="_remaining"/> more bytes.</summary>
        ChunkData,

        /// <summary>The CRLF after a chunk's data.</summary>
        ChunkEnd,

        /// <summary>Trailer fields, up to the empty line.</summary>
        Trailers,

        /// <summary>A body that runs until the server closes.</summary>
        UntilClose,

        /// <summary>The response has ended.</summary>
        Done,
    }

    /// <summary>What <see cref="Consume"/> left to do.</summary>
    private enum Next : byte
    {
        /// <summary>Read more from the stream.</summary>
        Read,

        /// <summary>Hand what was received to the async streaming callback, then go on.</summary>
        HandOver,

        /// <summary>The response has been read.</summary>
        Done,
    }

    /// <summary>Sends the request (or its head), then reads the answer.</summary>
    private void StartExchange()
    {
        HttpRequest request = _request;
        bool hasBody = request.Body is not null || request.BodyProducer is not null;
        _expectContinue = request.Expect100Continue == true && hasBody;
        _chunkedUpload = request.BodyProducer is not null && request.HeadersOrNull?.Contains("Content-Length") != true;
        // Only this client's code ran since the connection was marked ready (the hop's start or its connect).
        _fetch.MarkAsReached(FetchTimes.PreTransfer, FetchTimes.Connect);
        _bodySent = false;
        _sendFailure = null;
        _uploadStopped = false;
        _informational = 0;
        _finishing = 0;
        _noDirect = false;
        _state = ReadState.Head;
        ValueTask sending = SendRequest(_chunkedUpload, _expectContinue);
        if (!sending.IsCompleted)
        {
            if (hasBody && !_expectContinue)
            {
                // The upload waits for the socket: the answer is read meanwhile (see WatchUpload).
                WatchUpload(sending);
            }
            else
            {
                // The head waits for the socket: the answer is read once it has gone out.
                _sendAwaiter = sending.GetAwaiter();
                _sendAwaiter.UnsafeOnCompleted(_onSent ??= OnSent);
                return;
            }
        }
        else
        {
            sending.GetAwaiter().GetResult(); // Completed (checked above): takes its outcome, the producer's failure included; no blocking.
        }

        Pump();
    }

    private void OnSent()
    {
        ValueTaskAwaiter awaiter = _sendAwaiter;
        _sendAwaiter = default;
        try
        {
            // Completed (this is its continuation): takes the outcome, does not block.
            awaiter.GetResult();
        }
        catch (Exception e)
        {
            Fail(e);
            return;
        }

        Pump();
    }

    /// <summary>
    /// Reads and parses until the stream has no more for now (then waits for it, with a cached
    /// continuation), the caller's code is waited for, or the exchange ends.
    /// </summary>
    private void Pump()
    {
        try
        {
            while (!_ended)
            {
                Memory<byte> target = DirectTarget();
                if (!target.IsEmpty)
                {
                    ValueTask<int> receiving = Stream.ReadIntoAsync(target, partial: true);
                    if (!receiving.IsCompleted)
                    {
                        _directPending = true;
                        _directAwaiter = receiving.GetAwaiter();
                        _directAwaiter.UnsafeOnCompleted(_onReceivedDirect ??= OnReceivedDirect);
                        return;
                    }

                    TakeDirect(receiving.GetAwaiter());
                    continue;
                }

                ValueTask<ReadResult> reading = _input.ReadAsync();
                if (!reading.IsCompleted)
                {
                    _readAwaiter = reading.GetAwaiter();
                    _readAwaiter.UnsafeOnCompleted(_onReadable);
                    return;
                }

                if (!Step(reading.GetAwaiter().GetResult())) // Completed (checked above): no blocking.
                {
                    return;
                }
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>The stream's read completed (on the loop thread): go on from there.</summary>
    private void OnReadable()
    {
        ValueTaskAwaiter<ReadResult> awaiter = _readAwaiter;
        _readAwaiter = default;
        try
        {
            // Completed (this is its continuation): takes the result, does not block.
            if (!Step(awaiter.GetResult()))
            {
                return;
            }
        }
        catch (Exception e)
        {
            Fail(e);
            return;
        }

        Pump();
    }

    /// <summary>Parses what <paramref name="read"/> holds; returns whether to read again (false: the exchange ended, or waits for something else).</summary>
    private bool Step(in ReadResult read)
    {
        switch (Consume(read))
        {
            case Next.Read:
                return true;
            case Next.HandOver:
                return HandOver();
            default:
                FinishExchange();
                return false;
        }
    }

    /// <summary>
    /// Parses <paramref name="read"/>'s bytes as far as they go, then gives back to the stream
    /// what was used (and, when more is needed, that all was looked at). Throws what is wrong
    /// with the response; the stream's read is given back all the same.
    /// </summary>
    private Next Consume(in ReadResult read)
    {
        ReadOnlySequence<byte> buffer = read.Buffer;
        bool completed = read.IsCompleted;
        SequencePosition consumed = buffer.Start;
        Next next;
        try
        {
            while (true)
            {
                if (_abortError is not null)
                {
                    // The caller's code (a callback) aborted the exchange.
                    throw _abortError;
                }

                ReadOnlySequence<byte> rest = buffer.Slice(consumed);
                bool progressed = _state switch
                {
                    ReadState.Head => TakeHead(rest, completed, ref consumed),
                    ReadState.Length or ReadState.ChunkData => TakeCounted(rest, completed, ref consumed),
                    ReadState.ChunkSize => TakeChunkSize(rest, completed, ref consumed),
                    ReadState.ChunkEnd => TakeChunkEnd(rest, completed, ref consumed),
                    ReadState.Trailers => TakeTrailer(rest, completed, ref consumed),
                    ReadState.UntilClose => TakeUntilClose(rest, completed, ref consumed),
                    _ => false,
                };

                if (_asyncStreaming is not null && _pendingLength > 0)
                {
                    next = Next.HandOver;
                    break;
                }

                if (_state == ReadState.Done)
                {
                    next = Next.Done;
                    break;
                }

                if (!progressed)
                {
                    next = Next.Read;
                    break;
                }
            }
        }
        catch
        {
            _input.AdvanceTo(consumed, buffer.End);
            throw;
        }

        if (next == Next.Read)
        {
            _input.AdvanceTo(consumed, buffer.End);
        }
        else
        {
            _input.AdvanceTo(consumed);
        }

        return next;
    }

    /// <summary>Gives what was received to the async streaming callback; returns whether it is done already (false: the exchange goes on when it is).</summary>
    private bool HandOver()
    {
        // The caller's task may complete on any thread, or never: the wait resumes on the loop,
        // and ends at once when the exchange is aborted.
        ValueTask handing = WaitForUserTaskAsync(_asyncStreaming!(_pending.AsMemory(0, _pendingLength)));
        if (!handing.IsCompleted)
        {
            _handOverAwaiter = handing.GetAwaiter();
            _handOverAwaiter.UnsafeOnCompleted(_onHandedOver ??= OnHandedOver);
            return false;
        }

        handing.GetAwaiter().GetResult(); // Completed (checked above): takes the callback's outcome; no blocking.
        _pendingLength = 0;
        if (_state == ReadState.Done)
        {
            FinishExchange();
            return false;
        }

        return true;
    }

    private void OnHandedOver()
    {
        ValueTaskAwaiter awaiter = _handOverAwaiter;
        _handOverAwaiter = default;
        try
        {
            // Completed (this is its continuation): takes the outcome, does not block.
            awaiter.GetResult();
            _pendingLength = 0;
            if (_state == ReadState.Done)
            {
                FinishExchange();
                return;
            }
        }
        catch (Exception e)
        {
            Fail(e);
            return;
        }

        Pump();
    }

    /// <summary>A response head: parsed into <see cref="_head"/> when it is all there; a 100 Continue sends the body, other 1xx are skipped.</summary>
    private bool TakeHead(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        int max = _client.MaxHeaderSize;
        if (!ResponseStarted && !rest.IsEmpty)
        {
            ResponseStarted = true;
            _fetch.Mark(FetchTimes.StartTransfer);
        }

        long end = ResponseHead.FindEnd(rest, out long skipped);
        CheckStatusLineStart(rest, skipped);
        if (end < 0 || end - skipped > max)
        {
            if (end >= 0 || rest.Length - skipped > max)
            {
                throw new HttpProtocolError($"Response headers are larger than MaxHeaderSize ({max} bytes)");
            }

            return Starved(rest, completed, ref consumed);
        }

        ReadOnlySequence<byte> block = rest.Slice(skipped, end - skipped);
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

        _received += end;
        consumed = rest.GetPosition(end);
        int code = _head.Code;
        if (code == 100 && _expectContinue && !_bodySent && _sendFailure is null && _upload is null)
        {
            ValueTask sending = SendBodyAsync(_chunkedUpload);
            if (sending.IsCompleted)
            {
                sending.GetAwaiter().GetResult(); // Completed (checked above): takes its outcome, the producer's failure included; no blocking.
            }
            else
            {
                // The answer may still come before the body is all sent (see WatchUpload);
                // another 100 meanwhile is only informational.
                WatchUpload(sending);
            }

            return true;
        }

        if (code is >= 100 and < 200)
        {
            // Informational responses are skipped (RFC 9110 §15.2; a 101 was refused by the
            // parser). A server sends one or two (a 100 Continue, a 103 Early Hints); an endless
            // stream of them would hold the exchange until its timeout, or forever without one,
            // so a few more than any real server sends is a protocol error.
            if (++_informational > MaxInformationalResponses)
            {
                throw new HttpProtocolError($"More than {MaxInformationalResponses} informational (1xx) responses", $"{_head.Version} {code} {_head.Reason}");
            }

            return true;
        }

        OnFinalHead();
        return true;
    }

    /// <summary>Body bytes framed by a count: the rest of a Content-Length body, or of a chunk.</summary>
    private bool TakeCounted(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        if (rest.IsEmpty)
        {
            if (completed)
            {
                throw _abortError ?? new HttpStreamClosedError($"Stream closed after {_expected - _remaining} of {_expected} body bytes", Stream.Error, _received);
            }

            return false;
        }

        ReadOnlySequence<byte> take = rest.Length > _remaining ? rest.Slice(0, _remaining) : rest;
        Deliver(take);
        _remaining -= take.Length;
        _received += take.Length;
        consumed = take.End;
        if (_remaining == 0)
        {
            _state = _state == ReadState.Length ? ReadState.Done : ReadState.ChunkEnd;
        }

        return true;
    }

    /// <summary>A chunk-size line: hex digits, then extensions (ignored) after a semicolon.</summary>
    private bool TakeChunkSize(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        const int Max = 4096;
        byte[] line = _chunkLine ??= new byte[Max + 2];
        int length = TakeLine(rest, completed, Max, "chunk size line", line, ref consumed);
        if (length < 0)
        {
            return false;
        }

        ReadOnlySpan<byte> size = line.AsSpan(0, length);
        int semicolon = size.IndexOf((byte)';');
        if (semicolon >= 0)
        {
            size = size[..semicolon];
        }

        size = size.TrimEnd(" \t"u8);
        if (size.IsEmpty || size.Length > 15 || size.ContainsAnyExcept(s_hexDigits)
            || !System.Buffers.Text.Utf8Parser.TryParse(size, out long chunkLength, out int used, 'X') || used != size.Length)
        {
            string printable = HttpProtocolError.Printable(line.AsSpan(0, length));
            throw new HttpProtocolError($"Invalid chunk size: {printable}", printable);
        }

        if (chunkLength == 0)
        {
            // Trailer fields, then the empty line (RFC 9112 §7.1.2); they are read and not kept.
            _trailerBytes = 0;
            _state = ReadState.Trailers;
            return true;
        }

        if (chunkLength > _buffer.Limit - _buffer.Count && !IsDecoding)
        {
            // The chunk's size alone says the body goes past the limit.
            throw new HttpBodyTooLargeError(_buffer.Limit);
        }

        _expected = _remaining = chunkLength;
        _state = ReadState.ChunkData;
        return true;
    }

    private bool TakeChunkEnd(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        int length = TakeLine(rest, completed, 2, "chunk end", copy: null, ref consumed);
        if (length < 0)
        {
            return false;
        }

        if (length != 0)
        {
            throw new HttpProtocolError("Malformed chunked body: chunk data not followed by CRLF");
        }

        _state = ReadState.ChunkSize;
        return true;
    }

    private bool TakeTrailer(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        int max = _client.MaxHeaderSize;
        int length = TakeLine(rest, completed, max, "trailer", copy: null, ref consumed);
        if (length < 0)
        {
            return false;
        }

        if (length == 0)
        {
            _state = ReadState.Done;
            return true;
        }

        _trailerBytes += length;
        if (_trailerBytes > max)
        {
            throw new HttpProtocolError($"Trailers are larger than MaxHeaderSize ({max} bytes)");
        }

        return true;
    }

    /// <summary>No framing: the body runs until the server closes the connection (RFC 9112 §6.3).</summary>
    private bool TakeUntilClose(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        if (!rest.IsEmpty)
        {
            Deliver(rest);
            _received += rest.Length;
            consumed = rest.End;
            return true;
        }

        if (!completed)
        {
            return false;
        }

        if (_abortError is not null || Stream.Error is not null)
        {
            throw Closed();
        }

        _framed = false;
        _state = ReadState.Done;
        return true;
    }

    /// <summary>
    /// Fails at once when what arrived cannot start an HTTP/1.x status line: an HTTP/0.9 reply
    /// (the body with no status line, then a close) or another protocol altogether. Without
    /// this, such a reply ends in a bare "Stream closed", or waits for the timeout.
    /// </summary>
    private static void CheckStatusLineStart(in ReadOnlySequence<byte> buffer, long skipped)
    {
        ReadOnlySpan<byte> expected = "HTTP/"u8;
        Span<byte> start = stackalloc byte[5];
        ReadOnlySequence<byte> rest = buffer.Slice(skipped);
        int n = (int)Math.Min(rest.Length, start.Length);
        rest.Slice(0, n).CopyTo(start);
        if (start[..n].SequenceEqual(expected[..n]))
        {
            return;
        }

        ReadOnlySequence<byte> first = rest.Slice(0, Math.Min(rest.Length, HttpProtocolError.MaxLineLength + 1));
        if (first.PositionOf((byte)'\n') is { } lf)
        {
            first = first.Slice(0, lf);
        }

        throw new HttpProtocolError("The server did not answer with an HTTP/1.x status line (an HTTP/0.9 reply, or another protocol)", HttpProtocolError.Printable(first.ToArray()));
    }

    private void Parse(ReadOnlySpan<byte> block) => _head.Parse(block, keepRawLines: _request.HeaderCallback is not null);

    /// <summary>
    /// Takes a line of at most <paramref name="max"/> bytes (else a protocol error naming
    /// <paramref name="what"/>) and returns its length without the CRLF or LF, copying it into
    /// <paramref name="copy"/> (at least <paramref name="max"/> + 2 long) when given; -1 when the
    /// line has not all arrived.
    /// </summary>
    private int TakeLine(in ReadOnlySequence<byte> rest, bool completed, int max, string what, byte[]? copy, ref SequencePosition consumed)
    {
        if (rest.PositionOf((byte)'\n') is not { } lf)
        {
            if (rest.Length > max + 1)
            {
                throw new HttpProtocolError($"The {what} is longer than {max} bytes");
            }

            Starved(rest, completed, ref consumed);
            return -1;
        }

        ReadOnlySequence<byte> line = rest.Slice(0, lf);
        if (line.Length > max + 1)
        {
            throw new HttpProtocolError($"The {what} is longer than {max} bytes", HttpProtocolError.Printable(line.Slice(0, Math.Min(line.Length, HttpProtocolError.MaxLineLength + 1)).ToArray()));
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

        _received += line.Length + 1;
        consumed = rest.GetPosition(1, lf);
        return (int)length;
    }

    /// <summary>
    /// What arrived does not hold what is looked for: when the stream has ended that is the
    /// failure (all it held counted as received); else false, to wait for more.
    /// </summary>
    private bool Starved(in ReadOnlySequence<byte> rest, bool completed, ref SequencePosition consumed)
    {
        if (completed)
        {
            _received += rest.Length;
            consumed = rest.End;
            throw Closed();
        }

        return false;
    }
}
