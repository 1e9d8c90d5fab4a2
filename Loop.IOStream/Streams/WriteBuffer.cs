using System.Buffers;

namespace Loop.Streams;

/// <summary>
/// The bytes a stream has accepted but the kernel has not taken yet: a FIFO of pooled arrays.
/// Loop thread only. Appending copies; the front is handed to <c>send</c> as a span.
/// </summary>
internal sealed class WriteBuffer
{
#if DEBUG
    // Tiny segments in Debug builds so that the tests cross segment boundaries.
    private const int SegmentSize = 512;
#else
    private const int SegmentSize = 16 * 1024;
#endif

    // Empty until the first write: a stream that is only read from never needs it.
    private Segment[] _segments = [];
    private int _head;
    private int _count;
    private byte[]? _spare;

    // Set while memory from GetMemory is out and not yet advanced: the tail must not be released.
    private bool _leased;

    /// <summary>Bytes held.</summary>
    public long Length { get; private set; }

    public bool IsEmpty => Length == 0;

    /// <summary>The contiguous bytes at the front.</summary>
    public ReadOnlySpan<byte> First
    {
        get
        {
            if (_count == 0)
            {
                return default;
            }

            ref Segment s = ref _segments[_head];
            return s.Array.AsSpan(s.Start, s.End - s.Start);
        }
    }

    /// <summary>Writable space at the tail of at least <paramref name="sizeHint"/> bytes (1 if 0).</summary>
    public Memory<byte> GetMemory(int sizeHint)
    {
        sizeHint = Math.Max(1, sizeHint);
        _leased = true;
        if (_count > 0)
        {
            ref Segment tail = ref _segments[(_head + _count - 1) % _segments.Length];
            if (tail.Array.Length - tail.End >= sizeHint)
            {
                return tail.Array.AsMemory(tail.End);
            }
        }

        byte[] array = TakeArray(sizeHint);
        if (_count == _segments.Length)
        {
            Grow();
        }

        _segments[(_head + _count) % _segments.Length] = new Segment(array, 0, 0);
        _count++;
        return array;
    }

    /// <summary>Commits <paramref name="count"/> bytes written into the last <see cref="GetMemory"/>.</summary>
    public void Advance(int count)
    {
        _leased = false;
        if (count == 0 || _count == 0)
        {
            // Nothing written, or the buffer was cleared (the stream closed) while the memory was
            // out: the bytes have nowhere to go.
            return;
        }

        ref Segment tail = ref _segments[(_head + _count - 1) % _segments.Length];
        if (count < 0 || tail.End + count > tail.Array.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "Advanced past the memory that was handed out.");
        }

        tail.End += count;
        Length += count;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            Span<byte> space = GetMemory(Math.Min(data.Length, SegmentSize)).Span;
            int n = Math.Min(space.Length, data.Length);
            data[..n].CopyTo(space);
            Advance(n);
            data = data[n..];
        }
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front (they were sent).</summary>
    public void Consume(int count)
    {
        Length -= count;
        while (count > 0)
        {
            ref Segment s = ref _segments[_head];
            int n = Math.Min(count, s.End - s.Start);
            s.Start += n;
            count -= n;
            if (s.Start == s.End && _count > 1)
            {
                ReleaseHead();
            }
        }

        if (Length == 0 && !_leased)
        {
            // Everything was sent: give every array back, so that an idle stream holds none (the
            // pool's per-thread cache hands the same array to the next write at little cost).
            while (_count > 0)
            {
                ReleaseHead();
            }

            ReturnSpare();
        }
    }

    /// <summary>
    /// Returns every array to the pool, except a tail that <see cref="GetMemory"/> handed out and
    /// that was not advanced yet: its holder may still write into it, so it is left to the GC.
    /// </summary>
    public void Clear()
    {
        while (_count > 0)
        {
            if (_leased && _count == 1)
            {
                _segments[_head] = default;
                _count = 0;
                break;
            }

            ReleaseHead();
        }

        ReturnSpare();
        Length = 0;
    }

    private void ReturnSpare()
    {
        if (_spare is not null)
        {
            ArrayPool<byte>.Shared.Return(_spare);
            _spare = null;
        }
    }

    private byte[] TakeArray(int sizeHint)
    {
        if (_spare is not null && _spare.Length >= sizeHint)
        {
            byte[] spare = _spare;
            _spare = null;
            return spare;
        }

        return ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, SegmentSize));
    }

    private void ReleaseHead()
    {
        byte[] array = _segments[_head].Array;
        _segments[_head] = default;
        _head = (_head + 1) % _segments.Length;
        _count--;
        if (_spare is null)
        {
            _spare = array;
        }
        else
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private void Grow()
    {
        var bigger = new Segment[Math.Max(4, _segments.Length * 2)];
        for (int i = 0; i < _count; i++)
        {
            bigger[i] = _segments[(_head + i) % _segments.Length];
        }

        _segments = bigger;
        _head = 0;
    }

    private struct Segment(byte[] array, int start, int end)
    {
        public byte[] Array = array;
        public int Start = start;
        public int End = end;
    }
}
