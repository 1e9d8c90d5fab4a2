using System.IO.Pipelines;

namespace Loop.Streams;

/// <summary>
/// <see cref="IOStream.Input"/>: the stream's pipe reader, made to take part in the stream's
/// one-read-at-a-time rule and its buffer accounting. Loop thread only.
/// </summary>
internal sealed class StreamInput(IOStream stream) : PipeReader
{
    public override void AdvanceTo(SequencePosition consumed) => stream.InputAdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => stream.InputAdvanceTo(consumed, examined);

    public override void CancelPendingRead() => stream.InputCancelPendingRead();

    public override void Complete(Exception? exception = null) => stream.InputComplete();

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => stream.InputReadAsync(cancellationToken);

    public override bool TryRead(out ReadResult result) => stream.InputTryRead(out result);
}
