using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Loop.Http.Internal;

namespace Loop.Http.Simple;

/// <summary>Reading the response: the head, then the body as framed (Content-Length, chunked, or until close, RFC 9112 §6.3), and the lines both are made of.</summary>
internal sealed partial class Http1Connection
{
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
}
