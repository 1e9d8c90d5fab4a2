using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

/// <summary>The native callbacks (body, headers, upload, seek, debug) and what they call, on the loop thread inside libcurl.</summary>
internal sealed partial class CurlTransfer
{
    private nuint OnBody(ReadOnlySpan<byte> data)
    {
        if (_asyncPending)
        {
            // curl keeps the data and gives it again once resumed.
            _writePaused = true;
            return CurlFlags.WritePause;
        }

        _bodyBytes += data.Length;
        if (_bodyBytes > _client.MaxBodySize)
        {
            throw new HttpProtocolError($"Body larger than the limit of {_client.MaxBodySize} bytes");
        }

        if (_request.StreamingCallback is { } streaming)
        {
            streaming(Copy(data));
        }
        else if (_request.AsyncStreamingCallback is { } asyncStreaming)
        {
            ValueTask pending = asyncStreaming(Copy(data));
            if (!pending.IsCompletedSuccessfully)
            {
                _asyncPending = true;
                _ = AwaitStreamingAsync(pending);
            }
        }
        else
        {
            Append(data);
        }

        return (nuint)data.Length;
    }

    private async Task AwaitStreamingAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(true);
        }
        catch (Exception e)
        {
            SetCallbackError(e);
            _client.Abort(this, e);
            return;
        }

        _asyncPending = false;
        if (_writePaused)
        {
            _writePaused = false;
            _client.Resume(this);
        }
    }

    /// <summary>A managed copy of a chunk for a streaming callback (the buffer is reused for the next chunk).</summary>
    private ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> data)
    {
        if (_chunk is null || _chunk.Length < data.Length || _asyncPending)
        {
            if (_chunk is not null)
            {
                ArrayPool<byte>.Shared.Return(_chunk);
            }

            _chunk = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, 16 * 1024));
        }

        data.CopyTo(_chunk);
        return _chunk.AsMemory(0, data.Length);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_body is null || _body.Length - _bodyLength < data.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_bodyLength + data.Length, Math.Max(4096, (_body?.Length ?? 0) * 2)));
            if (_body is not null)
            {
                _body.AsSpan(0, _bodyLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_body);
            }

            _body = larger;
        }

        data.CopyTo(_body.AsSpan(_bodyLength));
        _bodyLength += data.Length;
    }

    private void OnHeaderLine(ReadOnlySpan<byte> bytes)
    {
        string line = Encoding.Latin1.GetString(bytes);
        _request.HeaderCallback?.Invoke(line);
        if (line.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            // A new response (after a 1xx, or a redirect that curl follows): its headers only.
            _headers = new HttpHeaders();
            _headerBytes = 0;
            string[] parts = line.TrimEnd('\r', '\n').Split(' ', 3);
            _reason = parts.Length == 3 ? parts[2] : string.Empty;
            return;
        }

        _headerBytes += bytes.Length;
        if (_headerBytes > _client.MaxHeaderSize)
        {
            throw new HttpProtocolError($"Response headers are larger than MaxHeaderSize ({_client.MaxHeaderSize} bytes)");
        }

        if (line is "\r\n" or "\n")
        {
            return;
        }

        try
        {
            // The same rules as the simple client's parser: a token name, no control characters.
            _headers.ParseLine(line.EndsWith("\r\n", StringComparison.Ordinal) ? line[..^2] : line.TrimEnd('\n'));
        }
        catch (FormatException e)
        {
            throw new HttpProtocolError($"Malformed HTTP header line: {line.TrimEnd('\r', '\n')} ({e.Message})");
        }
    }

    private nuint OnRead(Span<byte> buffer)
    {
        if (_request.Body is { } body)
        {
            int n = Math.Min(buffer.Length, body.Length - _uploadOffset);
            body.AsSpan(_uploadOffset, n).CopyTo(buffer);
            _uploadOffset += n;
            return (nuint)n;
        }

        int written = 0;
        while (written < buffer.Length)
        {
            if (_current is null && !_produced.TryDequeue(out _current))
            {
                break;
            }

            int n = Math.Min(buffer.Length - written, _current.Length - _currentOffset);
            _current.AsSpan(_currentOffset, n).CopyTo(buffer[written..]);
            written += n;
            _currentOffset += n;
            if (_currentOffset == _current.Length)
            {
                _current = null;
                _currentOffset = 0;
            }
        }

        if (_current is null && _produced.Count == 0 && _drained is { } drained)
        {
            // Everything written so far is in curl's hands: the producer may go on.
            _drained = null;
            _client.Loop.AddCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), drained);
        }

        if (written > 0)
        {
            return (nuint)written;
        }

        if (_producerDone || _request.BodyProducer is null)
        {
            return 0; // The end of the body.
        }

        _readPaused = true;
        return CurlFlags.ReadPause;
    }

    private int OnSeek(long offset, int origin)
    {
        if (_request.Body is null || origin != 0 || offset < 0 || offset > _request.Body.Length)
        {
            return CurlFlags.SeekCantSeek;
        }

        // curl sends the body again (digest authentication, a redirect that keeps it).
        _uploadOffset = (int)offset;
        return CurlFlags.SeekOk;
    }

    private static CurlTransfer? From(nint userData) => userData == 0 ? null : GCHandle.FromIntPtr(userData).Target as CurlTransfer;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint WriteCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            return transfer.OnBody(new ReadOnlySpan<byte>(data, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            // Returning less than given makes curl end the transfer with CURLE_WRITE_ERROR.
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint HeaderCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        int length = checked((int)(size * count));
        try
        {
            transfer.OnHeaderLine(new ReadOnlySpan<byte>(data, length));
            return (nuint)length;
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint ReadCallback(byte* buffer, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.ReadAbort;
        }

        try
        {
            return transfer.OnRead(new Span<byte>(buffer, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.ReadAbort;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int SeekCallback(nint userData, long offset, int origin)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.SeekCantSeek;
        }

        try
        {
            return transfer.OnSeek(offset, origin);
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.SeekCantSeek;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int DebugCallback(nint easy, int kind, byte* data, nuint size, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            // 0: curl's own text; 1 and 2: header lines in and out (Tornado's debug log).
            if (kind is 0 or 1 or 2)
            {
                string text = Encoding.Latin1.GetString(data, checked((int)size)).TrimEnd('\r', '\n');
                transfer._client.Logger.LogDebug("curl {Kind} {Text}", kind switch { 0 => "*", 1 => "<", _ => ">" }, text);
            }
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
        }

        return 0;
    }
}
