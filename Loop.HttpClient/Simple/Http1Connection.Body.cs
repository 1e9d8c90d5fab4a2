using System.Buffers;
using System.Runtime.CompilerServices;
using Loop.Http.Decoding;
using Loop.Http.Internal;

namespace Loop.Http.Simple;

/// <summary>The body as it arrives: through the content decoder, counted against MaxBodySize, then to the streaming callback or kept for the response.</summary>
internal sealed partial class Http1Connection
{
    // A body of a known length up to this is read into an array of exactly its size.
    private const int ExactBodyLimit = 1024 * 1024;

    private static readonly Action<ReadOnlyMemory<byte>> s_discard = static _ => { };

    private readonly Action<ReadOnlyMemory<byte>> _deliverDecoded;
    private ContentDecoder? _decoder;
    private Action<ReadOnlyMemory<byte>>? _streaming;
    private Func<ReadOnlyMemory<byte>, ValueTask>? _asyncStreaming;
    private Action<ReadOnlyMemory<byte>> _deliver;
    private byte[]? _body;
    private int _bodyLength;
    private bool _bodyRented;
    private long _bodyLimit;
    private long _bodyBytes;

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
}
