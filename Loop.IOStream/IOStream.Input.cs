using System.Buffers;
using System.IO.Pipelines;
using Loop.Streams;

namespace Loop;

public partial class IOStream
{
    // The buffer last handed out through Input, to count what AdvanceTo consumes.
    private ReadOnlySequence<byte> _inputBuffer;
    private bool _inputCompleted;
    private LoopCompletion<ReadResult>? _inputCompletion;

    // An Input read waits for data (its task is out); the stream completes it itself from the
    // receive, the close or the cancellation, without the pipe's own awaiter in between.
    private bool _inputWaiting;

    // The last AdvanceTo examined everything: a ReadAsync waits for new bytes (the pipe's rule).
    private bool _inputExaminedAll;

    // CancelPendingRead was called with no read waiting: the next read returns at once, cancelled.
    private bool _inputCancelPending;
    private CancellationToken _inputToken;
    private CancellationTokenRegistration _inputRegistration;

    internal ValueTask<ReadResult> InputReadAsync(CancellationToken cancellationToken)
    {
        BeginInputRead();
        if (_closed || _inputCancelPending || (_buffered > 0 && !_inputExaminedAll))
        {
            // What the pipe's ReadAsync would return at once: new or unexamined bytes, the end of
            // the stream, or a cancellation asked for earlier.
            return new ValueTask<ReadResult>(TakeInputResult());
        }

        if (cancellationToken.IsCancellationRequested)
        {
            _readKind = ReadKind.None;
            return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        }

        _inputToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            // The token may fire on any thread; the read is failed on the loop.
            _inputRegistration = cancellationToken.UnsafeRegister(static state => ((IOStream)state!).CancelInputFromAnyThread(), this);
        }

        _inputWaiting = true;
        return (_inputCompletion ??= new LoopCompletion<ReadResult>(_loop)).Start();
    }

    /// <summary>The waiting Input read has something to return (bytes, the end, a cancellation): complete it. Its continuation runs inline.</summary>
    private void CompleteInputRead()
    {
        _inputWaiting = false;
        _inputRegistration.Dispose();
        _inputRegistration = default;
        _inputToken = default;
        _inputCompletion!.SetResult(TakeInputResult());
    }

    /// <summary>Takes the pipe's buffer for the outstanding Input read; something must be there (bytes, the end, or a cancellation).</summary>
    private ReadResult TakeInputResult()
    {
        if (!_pipeReader.TryRead(out ReadResult result))
        {
            // Unreachable by the callers' checks; an empty, not completed result would only make the reader ask again.
            result = new ReadResult(default, isCanceled: false, isCompleted: false);
            _inputBuffer = default;
            return result;
        }

        if (result.IsCanceled)
        {
            _inputCancelPending = false;
        }

        _inputBuffer = result.Buffer;
        return result;
    }

    internal bool InputTryRead(out ReadResult result)
    {
        BeginInputRead();
        if (_pipeReader.TryRead(out result))
        {
            if (result.IsCanceled)
            {
                _inputCancelPending = false;
            }

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

        ReadOnlySequence<byte> buffer = _inputBuffer;
        long count = buffer.Slice(buffer.Start, consumed).Length;
        bool examinedAll = buffer.Slice(examined).IsEmpty;
        _pipeReader.AdvanceTo(consumed, examined);
        _inputBuffer = default;
        _inputExaminedAll = examinedAll;
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

    internal void InputCancelPendingRead()
    {
        _pipeReader.CancelPendingRead();
        if (_inputWaiting)
        {
            CompleteInputRead();
        }
        else
        {
            _inputCancelPending = true;
        }
    }

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

    private void CancelInputFromAnyThread() => _loop.AddCallback(static state => ((IOStream)state!).CancelInputReadIfItsTokenFired(), this);

    /// <summary>
    /// The token of an Input read fired: cancel that read if it is still the one pending. By the
    /// time this runs on the loop the read may have completed and another begun, with a token of
    /// its own that must not be touched.
    /// </summary>
    private void CancelInputReadIfItsTokenFired()
    {
        if (!_inputWaiting || !_inputToken.IsCancellationRequested)
        {
            return;
        }

        CancellationToken token = _inputToken;
        _inputWaiting = false;
        _inputRegistration.Dispose();
        _inputRegistration = default;
        _inputToken = default;
        _readKind = ReadKind.None;
        _inputCompletion!.SetException(new OperationCanceledException(token));
    }
}
