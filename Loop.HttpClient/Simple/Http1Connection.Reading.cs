using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Loop.Http.Internal;

namespace Loop.Http.Simple;

/// <summary>Reading the response: the head, then the body as framed (exactly a length, chunked, or until close), and the lines both are made of.</summary>
internal sealed partial class Http1Connection
{
    private static readonly SearchValues<byte> s_hexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    private byte[]? _chunkLine;

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
            CheckStatusLineStart(buffer, skipped);
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

                _received += end;
                _input.AdvanceTo(buffer.GetPosition(end));
                return;
            }

            WaitForMore(read, end >= 0 || buffer.Length - skipped > max ? $"Response headers are larger than MaxHeaderSize ({max} bytes)" : null);
        }
    }

    /// <summary>
    /// Fails at once when what arrived cannot start an HTTP/1.x status line: an HTTP/0.9 reply
    /// (the body with no status line, then a close) or another protocol altogether. Without
    /// this, such a reply ends in a bare "Stream closed", or waits for the timeout.
    /// </summary>
    private void CheckStatusLineStart(in ReadOnlySequence<byte> buffer, long skipped)
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

        _input.AdvanceTo(buffer.Start, buffer.End);
        throw new HttpProtocolError("The server did not answer with an HTTP/1.x status line (an HTTP/0.9 reply, or another protocol)", HttpProtocolError.Printable(first.ToArray()));
    }

    private void Parse(ReadOnlySpan<byte> block) => _head.Parse(block, keepRawLines: _request.HeaderCallback is not null);

    /// <summary>Reads the body as framed; returns whether the framing ended it (false: read until close, so the connection is done).</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder<>))]
    private async ValueTask<bool> ReadBodyAsync(BodyFraming framing, long contentLength)
    {
        switch (framing)
        {
            case BodyFraming.None:
                return true;
            case BodyFraming.Chunked:
                await ReadChunkedAsync().ConfigureAwait(false);
                return true;
            case BodyFraming.Length:
                await ReadExactlyAsync(contentLength).ConfigureAwait(false);
                return true;
        }

        // No framing: the body runs until the server closes the connection (RFC 9112 §6.3).
        while (true)
        {
            ReadResult read = await _input.ReadAsync().ConfigureAwait(false);
            Deliver(read.Buffer);
            _received += read.Buffer.Length;
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
                throw _abortError ?? new HttpStreamClosedError($"Stream closed after {expected - count} of {expected} body bytes", Stream.Error, _received);
            }

            ReadOnlySequence<byte> take = buffer.Slice(0, Math.Min(count, buffer.Length));
            Deliver(take);
            count -= take.Length;
            _received += take.Length;
            _input.AdvanceTo(take.End);
            await HandOverAsync().ConfigureAwait(false);
        }
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

            if (length > _buffer.Limit - _buffer.Count && !IsDecoding)
            {
                // The chunk's size alone says the body goes past the limit.
                throw new HttpBodyTooLargeError(_buffer.Limit);
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
        if (size.IsEmpty || size.Length > 15 || size.ContainsAnyExcept(s_hexDigits)
            || !System.Buffers.Text.Utf8Parser.TryParse(size, out long chunkLength, out int used, 'X') || used != size.Length)
        {
            string printable = HttpProtocolError.Printable(line.AsSpan(0, length));
            throw new HttpProtocolError($"Invalid chunk size: {printable}", printable);
        }

        return chunkLength;
    }

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
            _received += buffer.Length;
            _input.AdvanceTo(buffer.End);
            throw Closed();
        }

        _input.AdvanceTo(buffer.Start, buffer.End);
    }
}
