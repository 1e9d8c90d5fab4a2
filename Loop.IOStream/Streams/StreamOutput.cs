using System.IO.Pipelines;

namespace Loop.Streams;

/// <summary><see cref="IOStream.Output"/>: a pipe writer straight into the stream's write buffer. Loop thread only.</summary>
internal sealed class StreamOutput(IOStream stream) : PipeWriter
{
    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => stream.OutputUnflushed;

    public override void Advance(int bytes) => stream.OutputAdvance(bytes);

    public override void CancelPendingFlush()
    {
        // A flush completes when the kernel has taken the bytes; there is nothing to cancel
        // without losing data, so this is a no-op (the flush completes normally).
    }

    public override void Complete(Exception? exception = null) => stream.OutputComplete(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => stream.OutputFlushAsync(cancellationToken);

    public override Memory<byte> GetMemory(int sizeHint = 0) => stream.OutputGetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => stream.OutputGetMemory(sizeHint).Span;
}
