using System.Buffers;

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
internal sealed class BodyBuffer : IDisposable
{
    private const int FirstSegment = 4 * 1024;
    private const int LargestSegment = 1024 * 1024;

    private readonly List<byte[]> _segments = [];
    private byte[]? _exact;
    private int _lastUsed;
    private long _stored;

    /// <summary>Creates an empty buffer that refuses more than <paramref name="limit"/> bytes.</summary>
    public BodyBuffer(long limit) => Limit = limit;

    /// <summary>The most bytes the body may have, kept and skipped together.</summary>
    public long Limit { get; set; }

    /// <summary>Bytes counted so far, kept or skipped.</summary>
    public long Count { get; private set; }

    /// <summary>Bytes kept so far.</summary>
    public long Stored => _stored;

    /// <summary>
    /// The body will be exactly <paramref name="length"/> bytes (a Content-Length with no
    /// decoding): keep it in one array of that size. Ignored when anything is stored already,
    /// or when the length is over the limit (the first byte past it fails as usual).
    /// </summary>
    public void ExpectLength(long length)
    {
        if (_stored == 0 && _exact is null && length > 0 && length <= Limit && length <= Array.MaxLength)
        {
            _exact = GC.AllocateUninitializedArray<byte>((int)length);
        }
    }

    /// <summary>Keeps <paramref name="data"/>.</summary>
    /// <exception cref="HttpBodyTooLargeError">The body would go past <see cref="Limit"/>; nothing of <paramref name="data"/> is kept.</exception>
    public void Append(ReadOnlySpan<byte> data)
    {
        Charge(data.Length);
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
            _stored = 0;
            AppendToSegments(exact.AsSpan(0, used));
        }

        AppendToSegments(data);
    }

    /// <summary>Counts <paramref name="length"/> bytes against the limit without keeping them.</summary>
    /// <exception cref="HttpBodyTooLargeError">The body went past <see cref="Limit"/>.</exception>
    public void Skip(long length) => Charge(length);

    /// <summary>The kept bytes as one array of exactly their length; the buffer is empty afterwards (its count stays).</summary>
    public byte[] ToArray()
    {
        if (_stored == 0)
        {
            ReturnSegments();
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
            int offset = 0;
            for (int i = 0; i < _segments.Count; i++)
            {
                byte[] segment = _segments[i];
                int used = i == _segments.Count - 1 ? _lastUsed : segment.Length;
                segment.AsSpan(0, used).CopyTo(result.AsSpan(offset));
                offset += used;
                ArrayPool<byte>.Shared.Return(segment);
            }

            _segments.Clear();
            _lastUsed = 0;
        }

        _stored = 0;
        return result;
    }

    /// <summary>Empties the buffer and its count, returning its memory, for a new body with <paramref name="limit"/>.</summary>
    public void Reset(long limit)
    {
        ReturnSegments();
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

    private void AppendToSegments(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_segments.Count == 0 || _lastUsed == _segments[^1].Length)
            {
                int size = _segments.Count == 0 ? FirstSegment : Math.Min(LargestSegment, _segments[^1].Length * 2);
                _segments.Add(ArrayPool<byte>.Shared.Rent(Math.Max(size, Math.Min(data.Length, LargestSegment))));
                _lastUsed = 0;
            }

            byte[] last = _segments[^1];
            int n = Math.Min(data.Length, last.Length - _lastUsed);
            data[..n].CopyTo(last.AsSpan(_lastUsed));
            _lastUsed += n;
            _stored += n;
            data = data[n..];
        }
    }

    private void ReturnSegments()
    {
        foreach (byte[] segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        _lastUsed = 0;
    }
}
