using System.Buffers;
using Loop.Curl.Native;
using Loop.Http;
using Loop.Http.Body;
using Loop.Http.Decoding;

namespace Loop.Curl;

/// <summary>
/// The response body: curl hands over the bytes as received (its own content decoding is off),
/// we undo the content coding with the shared <see cref="ContentDecoder"/>, count the decoded
/// bytes against <c>MaxBodySize</c> in a <see cref="BodyBuffer"/> and keep them (in pooled memory
/// when asked) or pass them to the streaming callback or the caller's body writer. The body of a redirect curl follows never reaches the write callback
/// (curl drains it): the progress callback bounds it instead.
/// </summary>
internal sealed partial class CurlTransfer
{
    private BodyBuffer? _body;
    private ContentDecoder? _transferDecoder;
    private ContentDecoder? _decoder;
    private Action<ReadOnlyMemory<byte>>? _afterTransfer;
    private Action<ReadOnlyMemory<byte>>? _deliverDecoded;

    // Set at the end of each response head: what the body that may follow needs.
    private long _contentLength = -1;
    private bool _bodyPrepared;

    // Whether the write callback has had bytes since the latest status line (curl drains a
    // followed redirect's body without calling it).
    private bool _bodySeen;

    // Body bytes curl read for the current response, framing included (the debug callback's
    // CURLINFO_DATA_IN, counted once verbose is on), whether the debug callback logs, and whether
    // verbose is on.
    private long _rawBodyBytes;
    private bool _logDebug;
    private bool _verbose;

    // Whether curl calls the progress callback (CURLOPT_NOPROGRESS 0): only once a head says
    // the body may be read without the write callback, or is chunked (EnableProgress).
    private bool _progress;

    // Bytes the write callback had, for the client's choice of receive buffer.
    private long _bodyBytesIn;

    // curl's bytes copied into managed memory, for the decoder and the streaming callbacks.
    private byte[]? _chunk;

    // Async streaming: what one write callback decoded, handed over in one call.
    private byte[]? _handOver;
    private int _handOverLength;
    private bool _writePaused;
    private bool _asyncPending;

    // curl finished the transfer while the async streaming callback held its last piece: the
    // response waits for the callback (a fetch never completes with a piece still being written).
    private bool _deliverAfterHandOver;

    /// <summary>The body fields as a new transfer has them (the pooled memory went back in <see cref="ReleaseBody"/>; the delegates to this object stay).</summary>
    private void ResetBody()
    {
        _body = null;
        _transferDecoder = null;
        _decoder = null;
        _contentLength = -1;
        _bodyPrepared = false;
        _bodySeen = false;
        _rawBodyBytes = 0;
        _logDebug = false;
        _verbose = false;
        _progress = false;
        _bodyBytesIn = 0;
        _chunk = null;
        _handOver = null;
        _handOverLength = 0;
        _writePaused = false;
        _asyncPending = false;
        _deliverAfterHandOver = false;
    }

    private nuint OnBody(ReadOnlySpan<byte> data)
    {
        _bodySeen = true;
        _bodyBytesIn += data.Length;
        if (_asyncPending)
        {
            // curl keeps the data and gives it again once resumed.
            _writePaused = true;
            return CurlFlags.WritePause;
        }

        if (!_bodyPrepared)
        {
            PrepareBody();
        }

        if (_transferDecoder is null && _decoder is null && _request.StreamingCallback is null && _request.AsyncStreamingCallback is null)
        {
            _body!.Append(data);
            return (nuint)data.Length;
        }

        _body!.AppendRaw(data);
        ReadOnlyMemory<byte> raw = Managed(data);
        if (_transferDecoder is not null)
        {
            _transferDecoder.Decode(raw, _afterTransfer!);
        }
        else
        {
            AfterTransferCodings(raw);
        }

        HandOver();
        return (nuint)data.Length;
    }

    /// <summary>The first body bytes of the final response: the decoder for its coding, the buffer with its limit.</summary>
    private void PrepareBody()
    {
        _bodyPrepared = true;
        _body ??= _client.RentBodyBuffer();
        _body.Reset(_client.MaxBodySize);
        _transferDecoder?.Dispose();
        _transferDecoder = null;
        _decoder?.Dispose();
        _decoder = null;
        bool streaming = _request.StreamingCallback is not null || _request.AsyncStreamingCallback is not null;
        if (_request.BodyWriter is { } writer)
        {
            _body.WriteTo(writer);
        }
        else if (_request.PooledBody == true && !streaming)
        {
            _body.KeepPooled();
        }

        if (!string.IsNullOrEmpty(_transferCodings))
        {
            // Checked at the end of the head: every coding is known.
            _ = ContentDecoder.TryCreate(_transferCodings, out _transferDecoder, out _);
            _afterTransfer ??= AfterTransferCodings;
        }

        if (_request.DecompressResponse == true && _headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            // A coding we do not know leaves the body as it came, with its Content-Encoding, as the simple client does.
            _ = ContentDecoder.TryCreate(encoding, out _decoder, out _);
            if (_decoder is not null)
            {
                _deliverDecoded ??= DeliverDecoded;
            }
        }

        if (_transferDecoder is null && _decoder is null && !streaming && _contentLength > 0)
        {
            _body.ExpectLength(_contentLength);
        }
        else if (!streaming)
        {
            // A large decoded body is decoded again from its raw bytes at the end, not copied.
            _body.KeepRaw(_decoder, _transferDecoder);
        }
    }

    /// <summary>The body with its transfer codings undone: its content coding next, if we undo it.</summary>
    private void AfterTransferCodings(ReadOnlyMemory<byte> data)
    {
        if (_decoder is not null)
        {
            _decoder.Decode(data, _deliverDecoded!);
        }
        else
        {
            DeliverDecoded(data);
        }
    }

    /// <summary>Decoded body bytes (valid only during the call): counted, then kept or passed on.</summary>
    private void DeliverDecoded(ReadOnlyMemory<byte> data)
    {
        if (_request.StreamingCallback is { } streaming)
        {
            _body!.Skip(data.Length);
            streaming(data);
        }
        else if (_request.AsyncStreamingCallback is not null)
        {
            _body!.Skip(data.Length);
            if (_handOver is null || _handOver.Length - _handOverLength < data.Length)
            {
                byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_handOverLength + data.Length, 16 * 1024));
                if (_handOver is not null)
                {
                    _handOver.AsSpan(0, _handOverLength).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(_handOver);
                }

                _handOver = larger;
            }

            data.Span.CopyTo(_handOver.AsSpan(_handOverLength));
            _handOverLength += data.Length;
        }
        else
        {
            _body!.Append(data.Span);
        }
    }

    /// <summary>Async streaming: hands what this write decoded to the callback; while it runs, curl is paused.</summary>
    private void HandOver()
    {
        if (_request.AsyncStreamingCallback is not { } asyncStreaming || _handOverLength == 0)
        {
            return;
        }

        byte[] buffer = _handOver!;
        int length = _handOverLength;
        _handOverLength = 0;
        ValueTask pending = asyncStreaming(buffer.AsMemory(0, length));
        if (!pending.IsCompletedSuccessfully)
        {
            // The callback owns the buffer until it is done with it.
            _handOver = null;
            _asyncPending = true;
            _ = AwaitStreamingAsync(pending, buffer);
        }
    }

    private async Task AwaitStreamingAsync(ValueTask pending, byte[] buffer)
    {
        try
        {
            await pending.ConfigureAwait(true);
        }
        catch (Exception e)
        {
            SetCallbackError(e);
            _asyncPending = false;
            if (_deliverAfterHandOver)
            {
                // curl had finished: the callback's failure is the fetch's outcome all the same.
                _deliverAfterHandOver = false;
                _outcome = e;
                Deliver();
                return;
            }

            _client.Abort(this, e);
            return;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _asyncPending = false;
        if (_deliverAfterHandOver)
        {
            _deliverAfterHandOver = false;
            Deliver();
            return;
        }

        if (_writePaused)
        {
            _writePaused = false;
            _client.Resume(this);
        }
    }

    /// <summary>
    /// curl's progress (after every read): a body it reads without handing it to the write
    /// callback, a followed redirect's (drained so the connection can be reused; the
    /// <c>CURLOPT_MAXFILESIZE</c> of libcurl before 8.4 only checks a declared length), counts
    /// against <c>MaxBodySize</c> as the simple client counts the redirect bodies it drops.
    /// </summary>
    /// <exception cref="HttpBodyTooLargeError">The drained body went past the limit.</exception>
    /// <exception cref="HttpProtocolError">The chunked framing alone went past the limit.</exception>
    private void OnProgress(long downloaded)
    {
        _client.ProgressReports++;
        if (!_bodySeen && downloaded > _client.MaxBodySize)
        {
            throw new HttpBodyTooLargeError(_client.MaxBodySize);
        }

        // What curl read of the body beyond the body itself: chunk-size lines and their
        // extensions. libcurl 7.88 skips an extension of any length, and passes none of it to
        // any callback: an endless one would be read until the request timeout, or forever. The
        // simple client refuses a chunk-size line over 4 KB; here, only framing past MaxBodySize
        // can be seen (the bytes come from the debug callback, counted before de-chunking).
        if (_rawBodyBytes - downloaded > _client.MaxBodySize)
        {
            throw new HttpProtocolError($"The chunked framing (chunk-size lines and extensions) is larger than MaxBodySize ({_client.MaxBodySize} bytes)");
        }
    }

    /// <summary>
    /// A head ended whose body curl may read past the write callback: a response other than a
    /// 2xx (a followed redirect's body, or an authentication challenge's, is drained), or a
    /// chunked one (its framing is counted against the limit, see <see cref="OnProgress"/>).
    /// From here curl calls the progress callback at each report. A 2xx that is not chunked
    /// hands every byte to the write callback, which bounds it, so most responses go without the
    /// reports (about ten per transfer otherwise). Set from inside the header callback, before
    /// curl reads the body: libcurl reads the flag at each report, as it does verbose's.
    /// </summary>
    private void EnableProgress()
    {
        if (!_progress)
        {
            _progress = true;
            SetLong(CurlOpt.NoProgress, 0);
        }
    }

    /// <summary>
    /// The head of a chunked response ended: from here the debug callback counts the bytes curl
    /// reads (chunk framing included), which only a verbose handle reports. Set from inside the
    /// header callback, before curl reads the body: libcurl reads the flag at each report.
    /// </summary>
    private void EnableVerbose()
    {
        if (!_verbose)
        {
            _verbose = true;
            SetLong(CurlOpt.Verbose, 1);
        }
    }

    /// <summary>The end of the body: the decoder must have reached the end of its data.</summary>
    /// <exception cref="HttpContentDecodingError">The compressed data stopped short or failed its checksum.</exception>
    private void FinishBody()
    {
        if (!_bodyPrepared)
        {
            return;
        }

        _transferDecoder?.Finish(_afterTransfer!);
        _decoder?.Finish(_deliverDecoded!);
        HandOver();
    }

    /// <summary>The body as the response carries it: what was kept, pooled when asked (empty when it was streamed or written to the caller's writer).</summary>
    private ResponseBody TakeBody()
    {
        if (_request.StreamingCallback is not null || _request.AsyncStreamingCallback is not null)
        {
            return ResponseBody.Empty;
        }

        if (_body is null || !_bodyPrepared)
        {
            // No body byte came: a pooled response all the same, with nothing rented.
            return _request.PooledBody == true && _request.BodyWriter is null ? ResponseBody.Pooled(null, 0, _client.BodyPool) : ResponseBody.Empty;
        }

        return _body.TakeBody();
    }

    /// <summary>A managed copy of curl's bytes (the buffer is reused for the next write).</summary>
    private ReadOnlyMemory<byte> Managed(ReadOnlySpan<byte> data)
    {
        if (_chunk is null || _chunk.Length < data.Length)
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

    /// <summary>Returns the body's pooled memory.</summary>
    private void ReleaseBody()
    {
        if (_body is not null)
        {
            _body.Dispose();
            _client.ReturnBodyBuffer(_body);
            _body = null;
        }

        _transferDecoder?.Dispose();
        _transferDecoder = null;
        _decoder?.Dispose();
        _decoder = null;
        if (_chunk is not null)
        {
            ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = null;
        }

        if (_handOver is not null)
        {
            ArrayPool<byte>.Shared.Return(_handOver);
            _handOver = null;
        }
    }
}
