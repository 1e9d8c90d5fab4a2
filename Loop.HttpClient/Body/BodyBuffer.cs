using System.Buffers;
using Loop.Http.Decoding;

namespace Loop.Http.Body;

/// <summary>
/// A response body as it accumulates, for both clients: every byte counts against the limit
/// (<c>MaxBodySize</c>, counted after decoding) whether it is kept (<see cref="Append"/>) or
/// dropped (<see cref="Skip"/>, for a redirect's body), and going past it is an
/// <see cref="HttpBodyTooLargeError"/> before the byte is stored. Kept bytes go into pooled
/// segments that grow geometrically and are never copied while the body grows, so the memory
/// held stays near the body's size (the old doubling array reached 2.6× of the limit while
/// decompressing); a body of known length goes into one array of exactly its size, which
/// <see cref="ToArray"/> hands over without a copy. Loop thread only; reusable after
/// <see cref="Reset"/>.
/// </summary>
/// <remarks>
/// Two other ways to keep the body, chosen after <see cref="Reset"/> and before any byte:
/// <see cref="KeepPooled"/> gathers it in one array rented from <see cref="Pool"/> (of the
/// announced size when there is one, otherwise grown by renting a larger array and returning the
/// old one), which <see cref="TakeBody"/> hands over to the response; <see cref="WriteTo"/> writes
/// it to the caller's writer as it arrives and keeps nothing. Either way no array of the body's
/// size is ever allocated.
/// <para>
/// Kept the default way, a decoded body would still peak near 2× at the end, the segments plus
/// the response's array. So a body being decoded (<see cref="KeepRaw"/>) also keeps its raw, still encoded, bytes
/// (<see cref="AppendRaw"/>); once the decoded bytes pass <see cref="DecodedKeepLimit"/>, they
/// are dropped and only counted, every piece still decoded as it arrives (errors, the limit and
/// the length are known at once), and <see cref="ToArray"/> decodes the raw bytes a second time
/// straight into one array of the decoded length. The peak is then the decoded size plus the
/// encoded one.
/// </para>
/// </remarks>
internal sealed class BodyBuffer : IDisposable
{
    private const int FirstSegment = 4 * 1024;
    private const int LargestSegment = 1024 * 1024;

    /// <summary>
    /// Decoded bytes kept as they are up to this; past it, the raw bytes are kept instead and
    /// decoded again at the end. That second decode costs as much CPU time as the first, for
    /// bodies past this size only; it is taken because it brings the peak memory of a large body
    /// from twice its size to once (plus its encoded size), and memory, not time, is what a
    /// large or hostile body exhausts. Below this size the copy is cheaper than decoding again,
    /// and small bodies are the common case.
    /// </summary>
    internal const int DecodedKeepLimit = 1024 * 1024;

    // Made on first use: a body of known length goes to one exact array and never needs them.
    private Segments? _segments;
    private Segments? _raw;
    private byte[]? _exact;
    private long _stored;

    // ExpectLength made _exact for the announced length (not a pooled array grown as bytes came).
    private bool _announced;

    // The codings of the raw bytes kept (null: none kept), and whether the decoded ones are
    // dropped, to be decoded again from them.
    private string? _rawCodings;
    private bool _replay;

    // How the body is kept when not the default way (see KeepPooled and WriteTo); _exact is then
    // the rented array.
    private bool _pooled;
    private IBufferWriter<byte>? _writer;

    /// <summary>Creates an empty buffer that refuses more than <paramref name="limit"/> bytes.</summary>
    public BodyBuffer(long limit) => Limit = limit;

    /// <summary>The most bytes the body may have, kept and skipped together.</summary>
    public long Limit { get; set; }

    /// <summary>Bytes counted so far, kept or skipped.</summary>
    public long Count { get; private set; }

    /// <summary>Bytes kept so far (written to the writer, with <see cref="WriteTo"/>).</summary>
    public long Stored => _stored;

    /// <summary>
    /// Where a pooled body (<see cref="KeepPooled"/>) is rented from: the client's pool, which the
    /// response returns it to. The segments of a body kept the default way, which never leave this
    /// buffer, come from <see cref="ArrayPool{T}.Shared"/>.
    /// </summary>
    public ArrayPool<byte> Pool { get; set; } = ArrayPool<byte>.Shared;

    /// <summary>
    /// Keeps the body in one array rented from <see cref="Pool"/>, for <see cref="TakeBody"/> to hand
    /// over (until then, <see cref="Reset"/> returns it). Call after <see cref="Reset"/>, before
    /// <see cref="ExpectLength"/> and any byte. <see cref="KeepRaw"/> is then ignored: a pooled body
    /// is never decoded twice.
    /// </summary>
    public void KeepPooled() => _pooled = true;

    /// <summary>
    /// Writes the kept bytes to <paramref name="writer"/> as they come, keeping none (they still
    /// count against <see cref="Limit"/>, before they are written). Call after <see cref="Reset"/>,
    /// before any byte. <see cref="ExpectLength"/> and <see cref="KeepRaw"/> are then ignored.
    /// </summary>
    public void WriteTo(IBufferWriter<byte> writer) => _writer = writer;

    /// <summary>
    /// The body will be exactly <paramref name="length"/> bytes (a Content-Length with no
    /// decoding): keep it in one array of that size. Ignored when anything is stored already,
    /// or when the length is over the limit (the first byte past it fails as usual). A pooled body
    /// rents its array at once, of that size.
    /// </summary>
    public void ExpectLength(long length)
    {
        if (_writer is null && _stored == 0 && _exact is null && length > 0 && length <= Limit && length <= Array.MaxLength)
        {
            _exact = _pooled ? Pool.Rent((int)length) : GC.AllocateUninitializedArray<byte>((int)length);
            _announced = true;
        }
    }

    /// <summary>
    /// Room at the end of the array made for the announced length (<see cref="ExpectLength"/>,
    /// plain or pooled) for up to <paramref name="max"/> bytes to be received into in place, then
    /// kept with <see cref="CommitDirect"/>: so the body's bytes are copied once, by the kernel.
    /// Empty when the body is kept any other way (a writer, segments, a pooled array grown as the
    /// bytes come, which is what a decoded body gets), or when the array or the limit has no room.
    /// </summary>
    public Memory<byte> DirectSpace(long max)
    {
        if (!_announced || _exact is null)
        {
            return Memory<byte>.Empty;
        }

        long room = Math.Min(Math.Min(max, _exact.Length - _stored), Limit - Count);
        return room <= 0 ? Memory<byte>.Empty : _exact.AsMemory((int)_stored, (int)room);
    }

    /// <summary>Keeps the <paramref name="count"/> bytes just received into <see cref="DirectSpace"/>'s memory.</summary>
    /// <exception cref="HttpBodyTooLargeError">Not expected: the space was within the limit.</exception>
    public void CommitDirect(int count)
    {
        Charge(count);
        _stored += count;
    }

    /// <summary>Keeps <paramref name="data"/>.</summary>
    /// <exception cref="HttpBodyTooLargeError">The body would go past <see cref="Limit"/>; nothing of <paramref name="data"/> is kept.</exception>
    public void Append(ReadOnlySpan<byte> data)
    {
        Charge(data.Length);
        if (_writer is not null)
        {
            _writer.Write(data);
            _stored += data.Length;
            return;
        }

        if (_pooled)
        {
            AppendPooled(data);
            return;
        }

        if (_exact is not null)
        {
            if (_stored + data.Length <= _exact.Length)
            {
                data.CopyTo(_exact.AsSpan((int)_stored));
                _stored += data.Length;
                return;
            }

            // More than was announced: carry on in segments.
            byte[] exact = _exact;
            int used = (int)_stored;
            _exact = null;
            _announced = false;
            _stored = 0;
            AppendToSegments(exact.AsSpan(0, used));
        }

        if (_rawCodings is not null && !_replay && _stored + data.Length > DecodedKeepLimit)
        {
            if (RawLength < _stored + data.Length)
            {
                // Smaller encoded than decoded: keep the raw bytes from now on.
                _segments?.Return();
                _replay = true;
            }
            else
            {
                // Nothing to gain: the decoded bytes stay.
                StopKeepingRaw();
            }
        }

        if (_replay)
        {
            _stored += data.Length;
            return;
        }

        AppendToSegments(data);
    }

    /// <summary>
    /// The body is kept, and decoded by <paramref name="transferDecoder"/> (transfer codings
    /// before <c>chunked</c>) then <paramref name="contentDecoder"/>, either or both null: its
    /// raw bytes will come through <see cref="AppendRaw"/> too. Call before any byte.
    /// </summary>
    public void KeepRaw(ContentDecoder? contentDecoder, ContentDecoder? transferDecoder)
    {
        // The server applied the content codings first, then the transfer codings: one list in
        // that order makes one chain that undoes both, in reverse, as the two decoders do.
        string? codings = (contentDecoder, transferDecoder) switch
        {
            (null, null) => null,
            ({ } content, null) => content.Encoding,
            (null, { } transfer) => transfer.Encoding,
            ({ } content, { } transfer) => content.Encoding + ", " + transfer.Encoding,
        };
        _rawCodings = _stored == 0 && _exact is null && !_pooled && _writer is null ? codings : null;
    }

    /// <summary>
    /// Raw (still encoded) body bytes, each given before it is decoded and its output given to
    /// <see cref="Append"/>; kept only while they may be needed to decode the body again.
    /// </summary>
    /// <exception cref="HttpBodyTooLargeError">The raw bytes kept, for a body whose decoded bytes were dropped, went past <see cref="Limit"/>.</exception>
    public void AppendRaw(ReadOnlySpan<byte> data)
    {
        if (_rawCodings is null)
        {
            return;
        }

        if (data.Length > Limit - RawLength)
        {
            if (!_replay)
            {
                StopKeepingRaw();
                return;
            }

            // Encoded bytes that decode to little (empty gzip members, say) must not grow
            // without bound either.
            throw new HttpBodyTooLargeError(Limit);
        }

        (_raw ??= new()).Append(data);
    }

    private long RawLength => _raw?.Length ?? 0;

    /// <summary>Counts <paramref name="length"/> bytes against the limit without keeping them.</summary>
    /// <exception cref="HttpBodyTooLargeError">The body went past <see cref="Limit"/>.</exception>
    public void Skip(long length) => Charge(length);

    /// <summary>The kept bytes as one array of exactly their length; the buffer is empty afterwards (its count stays).</summary>
    /// <exception cref="HttpContentDecodingError">Not expected: the raw bytes decoded once already.</exception>
    public byte[] ToArray()
    {
        if (_replay)
        {
            return Replay();
        }

        _raw?.Return();
        _rawCodings = null;
        if (_stored == 0)
        {
            _segments?.Return();
            _exact = null;
            return [];
        }

        if (_exact is not null && _stored == _exact.Length)
        {
            byte[] whole = _exact;
            _exact = null;
            _stored = 0;
            return whole;
        }

        byte[] result = GC.AllocateUninitializedArray<byte>(checked((int)_stored));
        if (_exact is not null)
        {
            _exact.AsSpan(0, (int)_stored).CopyTo(result);
            _exact = null;
        }
        else
        {
            _segments!.MoveTo(result);
        }

        _stored = 0;
        return result;
    }

    /// <summary>
    /// The body for the response: with <see cref="KeepPooled"/>, the rented array, handed over (the
    /// response returns it); with <see cref="WriteTo"/>, none (the writer has it); otherwise
    /// <see cref="ToArray"/>'s array. The buffer is empty afterwards (its count stays).
    /// </summary>
    /// <exception cref="HttpContentDecodingError">Not expected: the raw bytes decoded once already.</exception>
    public ResponseBody TakeBody()
    {
        if (_writer is not null)
        {
            return ResponseBody.Empty;
        }

        if (!_pooled)
        {
            return ResponseBody.Exact(ToArray());
        }

        byte[]? array = _exact;
        int length = (int)_stored;
        _exact = null;
        _stored = 0;
        if (array is not null && length == 0)
        {
            Pool.Return(array);
            array = null;
        }

        return ResponseBody.Pooled(array, length, Pool);
    }

    /// <summary>Empties the buffer and its count, returning its memory, for a new body with <paramref name="limit"/>, kept the default way.</summary>
    public void Reset(long limit)
    {
        _segments?.Return();
        StopKeepingRaw();
        if (_pooled && _exact is not null)
        {
            Pool.Return(_exact);
        }

        _pooled = false;
        _announced = false;
        _writer = null;
        _exact = null;
        _stored = 0;
        Count = 0;
        Limit = limit;
    }

    /// <summary>Returns the pooled memory.</summary>
    public void Dispose() => Reset(Limit);

    private void Charge(long length)
    {
        if (length > Limit - Count)
        {
            throw new HttpBodyTooLargeError(Limit);
        }

        Count += length;
    }

    /// <summary>Copies <paramref name="data"/> into the rented array, first renting a larger one (copied over, the old one returned) if it does not fit.</summary>
    private void AppendPooled(ReadOnlySpan<byte> data)
    {
        if (_exact is null || _exact.Length - _stored < data.Length)
        {
            // Doubling: the bytes copied while growing stay under the body's size.
            int needed = checked((int)(_stored + data.Length));
            byte[] larger = Pool.Rent(Math.Max(needed, _exact is null ? FirstSegment : (int)Math.Min(Array.MaxLength, 2L * _exact.Length)));
            if (_exact is not null)
            {
                _exact.AsSpan(0, (int)_stored).CopyTo(larger);
                Pool.Return(_exact);
            }

            _exact = larger;
            _announced = false;
        }

        data.CopyTo(_exact.AsSpan((int)_stored));
        _stored += data.Length;
    }

    private void AppendToSegments(ReadOnlySpan<byte> data)
    {
        (_segments ??= new()).Append(data);
        _stored += data.Length;
    }

    private void StopKeepingRaw()
    {
        _raw?.Return();
        _rawCodings = null;
        _replay = false;
    }

    /// <summary>Decodes the raw bytes again, with fresh decoders, into one array of the decoded length.</summary>
    private byte[] Replay()
    {
        byte[] result = GC.AllocateUninitializedArray<byte>(checked((int)_stored));
        int offset = 0;
        void Write(ReadOnlyMemory<byte> piece)
        {
            if (piece.Length > result.Length - offset)
            {
                throw new InvalidOperationException("The body decoded to more bytes the second time");
            }

            piece.Span.CopyTo(result.AsSpan(offset));
            offset += piece.Length;
        }

        try
        {
            _ = ContentDecoder.TryCreate(_rawCodings!, out ContentDecoder? decoder, out _);
            using (decoder)
            {
                Action<ReadOnlyMemory<byte>> write = Write;
                _raw!.ForEach(segment => decoder!.Decode(segment, write));
                decoder!.Finish(write);
            }
        }
        finally
        {
            StopKeepingRaw();
            _stored = 0;
        }

        if (offset != result.Length)
        {
            throw new InvalidOperationException("The body decoded to fewer bytes the second time");
        }

        return result;
    }

    /// <summary>Bytes in pooled segments that grow geometrically up to 1 MiB, never copied as they grow.</summary>
    private sealed class Segments
    {
        private readonly List<byte[]> _list = [];
        private int _lastUsed;

        public long Length { get; private set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                if (_list.Count == 0 || _lastUsed == _list[^1].Length)
                {
                    int size = _list.Count == 0 ? FirstSegment : Math.Min(LargestSegment, _list[^1].Length * 2);
                    _list.Add(ArrayPool<byte>.Shared.Rent(Math.Max(size, Math.Min(data.Length, LargestSegment))));
                    _lastUsed = 0;
                }

                byte[] last = _list[^1];
                int n = Math.Min(data.Length, last.Length - _lastUsed);
                data[..n].CopyTo(last.AsSpan(_lastUsed));
                _lastUsed += n;
                Length += n;
                data = data[n..];
            }
        }

        /// <summary>Hands each segment's bytes, in order, to <paramref name="action"/>.</summary>
        public void ForEach(Action<ReadOnlyMemory<byte>> action)
        {
            for (int i = 0; i < _list.Count; i++)
            {
                action(_list[i].AsMemory(0, i == _list.Count - 1 ? _lastUsed : _list[i].Length));
            }
        }

        /// <summary>Copies the bytes to <paramref name="target"/> and returns the segments.</summary>
        public void MoveTo(Span<byte> target)
        {
            int offset = 0;
            for (int i = 0; i < _list.Count; i++)
            {
                int used = i == _list.Count - 1 ? _lastUsed : _list[i].Length;
                _list[i].AsSpan(0, used).CopyTo(target[offset..]);
                offset += used;
            }

            Return();
        }

        public void Return()
        {
            foreach (byte[] segment in _list)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }

            _list.Clear();
            _lastUsed = 0;
            Length = 0;
        }
    }
}
