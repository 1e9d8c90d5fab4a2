using System.Buffers;
using Loop.Http.Body;
using Loop.Http.Decoding;

namespace Loop.Http.Simple;

/// <summary>
/// The body as it arrives: the transfer codings before <c>chunked</c> undone, then the content
/// coding (when asked), every byte counted against MaxBodySize (a redirect's dropped body too),
/// then to the streaming callback or the caller's body writer, or kept for the response (in
/// pooled memory when asked).
/// </summary>
internal sealed partial class Http1Connection
{
    // A body of a known length up to this is read into an array of exactly its size; a larger
    // declaration is not trusted with an allocation before its bytes arrive.
    private const int ExactBodyLimit = 1024 * 1024;

    private readonly BodyBuffer _buffer = new(0);
    // The decoders' sinks, made on first use: most connections never decode.
    private Action<ReadOnlyMemory<byte>>? _deliverSink;
    private Action<ReadOnlyMemory<byte>>? _afterTransferSink;
    private ContentDecoder? _transferDecoder;
    private ContentDecoder? _decoder;
    private Action<ReadOnlyMemory<byte>>? _streaming;
    private Func<ReadOnlyMemory<byte>, ValueTask>? _asyncStreaming;

    // The body is read and dropped (a redirect being followed), not kept.
    private bool _skipBody;

    // With an async streaming callback: what was received and not handed over yet.
    private byte[]? _pending;
    private int _pendingLength;

    /// <summary>
    /// Gets ready for the body of the response just read: kept (<paramref name="keep"/>) or read
    /// and dropped (a redirect being followed: counted against the limit all the same, so an
    /// endless one fails rather than being read until the timeout).
    /// </summary>
    private void PrepareBody(HttpHeaders headers, long contentLength, bool keep)
    {
        // The stream's buffer only ever holds a read's worth, so MaxBufferSize does not bound the
        // body (as in Tornado, whose MaxBufferSizeTest receives a body larger than the buffer).
        _buffer.Reset(_client.MaxBodySize);
        if (!keep)
        {
            _skipBody = true;
            return;
        }

        _streaming = _request.StreamingCallback;
        _asyncStreaming = _request.AsyncStreamingCallback;
        if (_request.BodyWriter is { } writer)
        {
            _buffer.WriteTo(writer);
        }
        else if (_request.PooledBody == true && _streaming is null && _asyncStreaming is null)
        {
            _buffer.KeepPooled();
        }

        if (_request.DecompressResponse == true && headers.TryGetValue("Content-Encoding", out string? encoding))
        {
            // A coding we do not know leaves the body as it came, with its Content-Encoding.
            _ = ContentDecoder.TryCreate(encoding, out _decoder, out _);
        }

        if (_streaming is null && _asyncStreaming is null && _decoder is null && contentLength <= ExactBodyLimit)
        {
            // The size is known: one array of exactly that size (rented, for a pooled body), handed to the response as it is.
            _buffer.ExpectLength(contentLength);
        }
        else if (_streaming is null && _asyncStreaming is null)
        {
            // A large decoded body is decoded again from its raw bytes at the end, not copied.
            _buffer.KeepRaw(_decoder, _transferDecoder);
        }

        _skipBody = false;
    }

    private Action<ReadOnlyMemory<byte>> DeliverSink => _deliverSink ??= DeliverDecoded;

    private Action<ReadOnlyMemory<byte>> AfterTransferSink => _afterTransferSink ??= AfterTransfer;

    /// <summary>Whether the body's bytes are decoded before they are counted (a chunk's size then says nothing about the limit).</summary>
    private bool IsDecoding => _decoder is not null || _transferDecoder is not null;

    /// <summary>Raw body bytes (framing removed): through the decoders if there are any, then to the body or the callback.</summary>
    private void Deliver(in ReadOnlySequence<byte> data)
    {
        foreach (ReadOnlyMemory<byte> segment in data)
        {
            _buffer.AppendRaw(segment.Span);
            if (_transferDecoder is not null)
            {
                _transferDecoder.Decode(segment, AfterTransferSink);
            }
            else
            {
                AfterTransfer(segment);
            }
        }
    }

    /// <summary>The body has ended as framed: the decoders hand over what they hold and check that their data ended too.</summary>
    /// <exception cref="HttpContentDecodingError">A compressed stream stopped before its end.</exception>
    private void FinishBody()
    {
        _transferDecoder?.Finish(AfterTransferSink);
        _decoder?.Finish(DeliverSink);
    }

    private void AfterTransfer(ReadOnlyMemory<byte> data)
    {
        if (_decoder is not null)
        {
            _decoder.Decode(data, DeliverSink);
        }
        else
        {
            DeliverDecoded(data);
        }
    }

    private void DeliverDecoded(ReadOnlyMemory<byte> data)
    {
        AssertOnLoop();
        if (_skipBody)
        {
            _buffer.Skip(data.Length);
            return;
        }

        if (_streaming is not null)
        {
            _buffer.Skip(data.Length);
            _streaming(data);
            return;
        }

        if (_asyncStreaming is not null)
        {
            _buffer.Skip(data.Length);
            KeepPending(data.Span);
            return;
        }

        _buffer.Append(data.Span);
    }

    private void KeepPending(ReadOnlySpan<byte> data)
    {
        if (_pending is null || _pending.Length - _pendingLength < data.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_pendingLength + data.Length, 4096));
            if (_pending is not null)
            {
                _pending.AsSpan(0, _pendingLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_pending);
            }

            _pending = larger;
        }

        data.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += data.Length;
    }

    /// <summary>The body received, for the response.</summary>
    private ResponseBody TakeBody() => _asyncStreaming is not null ? ResponseBody.Empty : _buffer.TakeBody();

    /// <summary>Ends the body's state after an exchange, however it ended, returning pooled memory.</summary>
    private void ReleaseBody()
    {
        _transferDecoder?.Dispose();
        _transferDecoder = null;
        _decoder?.Dispose();
        _decoder = null;
        _streaming = null;
        _asyncStreaming = null;
        _skipBody = false;
        _buffer.Reset(0);
        if (_pending is not null)
        {
            // An async streaming callback given up on (the exchange was aborted) may still read
            // the memory it was handed: then the array is left to it, not returned to the pool.
            if (!UserTaskOutstanding)
            {
                ArrayPool<byte>.Shared.Return(_pending);
            }

            _pending = null;
        }

        _pendingLength = 0;
    }
}
