using System.Buffers;
using System.IO.Pipelines;

namespace Loop.Http.Internal;

/// <summary>
/// The response body as the caller reads it: the other end of the pipe that the loop's
/// <see cref="HttpFetchOptions.AsyncStreamingCallback"/> fills. Read on any thread (one read at a
/// time, as any stream); disposing it before the end aborts the transfer.
/// </summary>
internal sealed class LoopResponseStream(PipeReader reader, LoopExchange exchange) : Stream
{
    private int _disposed;
    private bool _ended;

    public override bool CanRead => Volatile.Read(ref _disposed) == 0;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>The exchange behind the stream (tests read its counters).</summary>
    internal LoopExchange Exchange => exchange;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_ended)
        {
            return 0;
        }

        ReadResult result;
        try
        {
            result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // As SocketsHttpHandler: a read given up on leaves the body half read, so the transfer is aborted.
            exchange.Abort();
            throw;
        }

        ReadOnlySequence<byte> data = result.Buffer;
        if (data.IsEmpty)
        {
            reader.AdvanceTo(data.End);
            _ended = result.IsCompleted;
            return 0;
        }

        int count = (int)Math.Min(buffer.Length, data.Length);
        data.Slice(0, count).CopyTo(buffer.Span);
        reader.AdvanceTo(data.GetPosition(count));
        exchange.CountRead(count);
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Blocks until data comes: never on the loop's thread, which would wait for itself.</summary>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        exchange.ThrowIfOnLoopThread();
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            // Stream's synchronous Read, blocking by design; never on the loop thread (checked above).
            int read = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            reader.Complete();
            if (!_ended)
            {
                exchange.Abort();
            }
        }

        base.Dispose(disposing);
    }
}
