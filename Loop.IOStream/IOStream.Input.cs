using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Loop.Streams;

namespace Loop;

public partial class IOStream
{
    // The buffer last handed out through Input, to count what AdvanceTo consumes.
    private ReadOnlySequence<byte> _inputBuffer;
    private bool _inputCompleted;
    private LoopCompletion<ReadResult>? _inputCompletion;
    private ValueTaskAwaiter<ReadResult> _innerRead;
    private Action? _onInnerReadDone;
    private CancellationToken _inputToken;
    private CancellationTokenRegistration _inputRegistration;

    internal ValueTask<ReadResult> InputReadAsync(CancellationToken cancellationToken)
    {
        BeginInputRead();
        _inputToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            // The pipe would complete the read on the cancelling thread; hand the cancellation to
            // the loop instead so that the reader resumes there.
            _inputRegistration = cancellationToken.UnsafeRegister(static state => ((IOStream)state!).CancelInputFromAnyThread(), this);
        }

        ValueTask<ReadResult> inner = _pipeReader.ReadAsync(CancellationToken.None);
        if (inner.IsCompleted)
        {
            return new ValueTask<ReadResult>(FinishInnerRead(inner.GetAwaiter()));
        }

        _innerRead = inner.GetAwaiter();
        _inputCompletion ??= new LoopCompletion<ReadResult>(_loop);
        ValueTask<ReadResult> outer = _inputCompletion.Start();
        _innerRead.UnsafeOnCompleted(_onInnerReadDone ??= OnInnerReadDone);
        return outer;
    }

    internal bool InputTryRead(out ReadResult result)
    {
        BeginInputRead();
        if (_pipeReader.TryRead(out result))
        {
            _inputBuffer = result.Buffer;
            return true;
        }

        _readKind = ReadKind.None;
        return false;
    }

    internal void InputAdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_readKind != ReadKind.Pipe)
        {
            throw new InvalidOperationException("No read through the stream's Input is outstanding.");
        }

        long count = _inputBuffer.Slice(_inputBuffer.Start, consumed).Length;
        bool examinedAll = _inputBuffer.Slice(examined).IsEmpty;
        _pipeReader.AdvanceTo(consumed, examined);
        _inputBuffer = default;
        _buffered -= count;
        _readKind = ReadKind.None;
        if (examinedAll && _buffered >= _options.MaxBufferSize && !_closed)
        {
            // The parser looked at everything and wants more, but the buffer is full.
            CloseForReadError(new StreamBufferFullException($"Reached maximum read buffer size ({_options.MaxBufferSize} bytes)"));
            return;
        }

        OnReadRoom();
    }

    internal void InputCancelPendingRead() => _pipeReader.CancelPendingRead();

    internal void InputComplete()
    {
        _inputCompleted = true;
        if (_readKind == ReadKind.Pipe)
        {
            _readKind = ReadKind.None;
        }
    }

    private void BeginInputRead()
    {
        if (_inputCompleted)
        {
            throw new InvalidOperationException("The stream's Input was completed.");
        }

        if (_readKind is not (ReadKind.None or ReadKind.Pipe))
        {
            throw new InvalidOperationException("Already reading: another read is pending on this stream.");
        }

        _readKind = ReadKind.Pipe;
        OnReadRoom();
    }

    private void OnInnerReadDone()
    {
        ValueTaskAwaiter<ReadResult> awaiter = _innerRead;
        _innerRead = default;
        ReadResult result;
        try
        {
            result = FinishInnerRead(awaiter);
        }
        catch (Exception e)
        {
            _readKind = ReadKind.None;
            _inputCompletion!.SetException(e);
            return;
        }

        _inputCompletion!.SetResult(result);
    }

    private ReadResult FinishInnerRead(ValueTaskAwaiter<ReadResult> awaiter)
    {
        _inputRegistration.Dispose();
        _inputRegistration = default;
        CancellationToken token = _inputToken;
        _inputToken = default;

        // The inner read has completed (synchronously or through the callback): this does not block.
        ReadResult result = awaiter.GetResult();
        if (result.IsCanceled && token.IsCancellationRequested)
        {
            _readKind = ReadKind.None;
            throw new OperationCanceledException(token);
        }

        _inputBuffer = result.Buffer;
        return result;
    }

    private void CancelInputFromAnyThread() => _loop.AddCallback(static state => ((IOStream)state!).CancelInputReadIfItsTokenFired(), this);

    /// <summary>
    /// The token of an Input read fired: cancel that read if it is still the one pending. By the
    /// time this runs on the loop the read may have completed and another begun, with a token of
    /// its own that must not be touched.
    /// </summary>
    private void CancelInputReadIfItsTokenFired()
    {
        if (_readKind == ReadKind.Pipe && _inputToken.IsCancellationRequested)
        {
            _pipeReader.CancelPendingRead();
        }
    }
}
