using System.IO.Pipelines;

namespace Loop;

/// <summary>Buffer limits of an <see cref="IOStream"/> (Tornado's <c>max_buffer_size</c>, <c>read_chunk_size</c>, <c>max_write_buffer_size</c>).</summary>
public sealed class IOStreamOptions
{
    /// <summary>The default <see cref="MaxBufferSize"/>: 100 MiB, as Tornado.</summary>
    public const int DefaultMaxBufferSize = 100 * 1024 * 1024;

    /// <summary>
    /// The default <see cref="ReadChunkSize"/>: 64 KiB, as Tornado. Debug builds use 1 KiB so that
    /// the tests run the buffer growth and segment-boundary paths.
    /// </summary>
#if DEBUG
    public const int DefaultReadChunkSize = 1024;
#else
    public const int DefaultReadChunkSize = 64 * 1024;
#endif

    internal static readonly IOStreamOptions Default = new();

    /// <summary>
    /// The most bytes a stream holds unread. A pending read that cannot be satisfied with this
    /// much buffered closes the stream with <see cref="StreamBufferFullException"/>. The stream
    /// stops reading from the socket while this much is buffered, so a fast sender is held back by
    /// TCP rather than filling memory.
    /// </summary>
    public int MaxBufferSize { get; init; } = DefaultMaxBufferSize;

    /// <summary>
    /// The most bytes taken from the socket in one read (at most half of <see cref="MaxBufferSize"/>).
    /// While no read is pending the stream reads ahead at most this much.
    /// </summary>
    public int ReadChunkSize { get; init; } = DefaultReadChunkSize;

    /// <summary>The most bytes a stream holds unsent; 0 means no limit (Tornado's default).</summary>
    public long MaxWriteBufferSize { get; init; }

    internal int EffectiveReadChunkSize => Math.Max(1, Math.Min(ReadChunkSize, MaxBufferSize / 2));

    /// <summary>The options of a stream's read pipe, made once per options object (they are immutable) rather than per stream.</summary>
    internal PipeOptions PipeOptions => _pipeOptions ??= new PipeOptions(
        pool: null,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        minimumSegmentSize: Math.Min(EffectiveReadChunkSize, 64 * 1024),
        useSynchronizationContext: false);

    // Made on first use; a race between threads only makes one more.
    private PipeOptions? _pipeOptions;

    internal void Validate()
    {
        if (MaxBufferSize < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBufferSize), MaxBufferSize, "MaxBufferSize must be at least 2 bytes.");
        }

        if (ReadChunkSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ReadChunkSize), ReadChunkSize, "ReadChunkSize must be positive.");
        }

        if (MaxWriteBufferSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWriteBufferSize), MaxWriteBufferSize, "MaxWriteBufferSize must not be negative.");
        }
    }
}
