namespace Loop.Tls;

/// <summary>
/// The stream an <see cref="System.Net.Security.SslStream"/> sees: reads wait for the socket
/// through the loop, writes go into the stream's write buffer and never wait. Only the
/// asynchronous read and the writes are supported; everything runs on the loop thread.
/// </summary>
internal sealed class TlsTransport(SslIOStream owner) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        owner.Loop.IsOnLoopThread ? owner.TransportReadAsync(buffer) : new ValueTask<int>(owner.OffLoopReadAsync(buffer));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("A synchronous read would block the loop.");

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (owner.Loop.IsOnLoopThread)
        {
            owner.TransportWrite(buffer);
        }
        else
        {
            _ = owner.OffLoopWriteAsync(buffer.ToArray());
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!owner.Loop.IsOnLoopThread)
        {
            return new ValueTask(owner.OffLoopWriteAsync(buffer.ToArray()));
        }

        owner.TransportWrite(buffer.Span);
        return default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
