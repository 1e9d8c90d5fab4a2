using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Loop.Streams;

namespace Loop;

public partial class IOStream
{
    private readonly Pipe _pipe;
    private readonly PipeReader _pipeReader;
    private readonly PipeWriter _pipeWriter;
    private readonly int _minimumReceive;
    private StreamInput? _input;

    // Bytes in the pipe that no reader has consumed yet.
    private long _buffered;

    // The one pending read (Tornado's _read_bytes, _read_delimiter, ... fields).
    private ReadKind _readKind;
    private int _readCount;
    private bool _readPartial;
    private ReadOnlyMemory<byte> _readDelimiter;
    private Regex? _readRegex;
    private int _readMaxBytes;
    private Memory<byte> _readInto;
    private int _readIntoFilled;
    private Action<ReadOnlySequence<byte>>? _readChunk;
    private long _readChunkRemaining;
    private long _readChunkTotal;

    // How far the buffer has been searched for the delimiter, so a long line is not rescanned.
    private long _scanned;

    // Set while a read being started makes room for data: that read is settled by StartRead.
    private bool _startingRead;

    // Set while a streaming read's callback runs: a Close from inside it leaves the read to Satisfy's caller.
    private bool _inChunkCallback;

    private byte[]? _resultBytes;
    private Exception? _resultError;

    private LoopCompletion<byte[]>? _bytesCompletion;
    private LoopCompletion<int>? _intCompletion;
    private LoopCompletion<long>? _longCompletion;

    private enum ReadKind : byte
    {
        None,
        Bytes,
        Until,
        Regex,
        Into,
        UntilClose,
        Chunks,

        /// <summary>A read through <see cref="Input"/> is outstanding (read and not yet advanced).</summary>
        Pipe,
    }

    private enum ReadStatus : byte
    {
        Pending,
        Done,
        Failed,
    }

    /// <summary>
    /// The read buffer as a <see cref="PipeReader"/>, for parsers that work on
    /// <see cref="ReadOnlySequence{T}"/> without copying. A <c>ReadAsync</c> counts as the one
    /// pending read until it is answered by <c>AdvanceTo</c>. When the stream closes, the reader
    /// reports <see cref="ReadResult.IsCompleted"/> after the buffered data (see <see cref="Error"/>
    /// for why). <c>Complete</c> on it does not close the stream.
    /// </summary>
    public PipeReader Input => _input ??= new StreamInput(this);

    /// <summary>Bytes received and not read yet.</summary>
    public long BufferedByteCount => _buffered;

    private protected int ReadAheadLimit => _readKind == ReadKind.None ? _options.EffectiveReadChunkSize : _options.MaxBufferSize;

    /// <summary>
    /// Reads up to and including <paramref name="delimiter"/>. With <paramref name="maxBytes"/>
    /// above 0, if the delimiter does not end within that many bytes the read fails with
    /// <see cref="UnsatisfiableReadException"/> and the stream is closed.
    /// </summary>
    /// <param name="delimiter">A non-empty byte sequence; it must not change while the read is pending.</param>
    /// <param name="maxBytes">The most bytes the result may have, delimiter included; 0 for no limit but <see cref="IOStreamOptions.MaxBufferSize"/>.</param>
    /// <returns>The bytes read, ending with the delimiter.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask<byte[]> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, int maxBytes = 0, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<byte[]>(cancellationToken);
        }

        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        BeginRead(ReadKind.Until);
        _readDelimiter = delimiter;
        _readMaxBytes = maxBytes;
        return Cancellable(StartBytesRead(), cancellationToken);
    }

    /// <summary>
    /// Reads up to and including the first match of <paramref name="regex"/>. The buffer is
    /// matched as Latin-1 text, so each byte is one char (U+0000 to U+00FF). With
    /// <paramref name="maxBytes"/> above 0, a match that ends past it, or no match within it,
    /// fails the read with <see cref="UnsatisfiableReadException"/> and closes the stream.
    /// The pattern is matched again over the buffered bytes each time more arrive, so give a
    /// <paramref name="maxBytes"/> when the peer is not trusted: it bounds that work.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <param name="regex">The pattern.</param>
    /// <param name="maxBytes">The most bytes the result may have; 0 for no limit but <see cref="IOStreamOptions.MaxBufferSize"/>.</param>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask<byte[]> ReadUntilRegexAsync(Regex regex, int maxBytes = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(regex);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<byte[]>(cancellationToken);
        }

        BeginRead(ReadKind.Regex);
        _readRegex = regex;
        _readMaxBytes = maxBytes;
        return Cancellable(StartBytesRead(), cancellationToken);
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, or with <paramref name="partial"/> as soon as
    /// at least one byte is there, at most <paramref name="count"/>. A count of 0 completes at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <param name="count">How many bytes (the most, with <paramref name="partial"/>).</param>
    /// <param name="partial">Complete with at least one byte rather than all of them.</param>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask<byte[]> ReadBytesAsync(int count, bool partial = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<byte[]>(cancellationToken);
        }

        BeginRead(ReadKind.Bytes);
        _readCount = count;
        _readPartial = partial;
        return Cancellable(StartBytesRead(), cancellationToken);
    }

    /// <summary>
    /// Reads everything until the peer closes the connection. If the stream is already closed,
    /// returns what is buffered. Everything is held in memory, up to
    /// <see cref="IOStreamOptions.MaxBufferSize"/>; for large bodies prefer
    /// <see cref="ReadStreamingAsync"/> or <see cref="ReadBytesAsync"/> with partial reads.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask<byte[]> ReadUntilCloseAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<byte[]>(cancellationToken);
        }

        BeginRead(ReadKind.UntilClose);
        return Cancellable(StartBytesRead(), cancellationToken);
    }

    /// <summary>
    /// Fills <paramref name="destination"/>, or with <paramref name="partial"/> completes as soon
    /// as at least one byte was copied. Returns the number of bytes copied. Buffered bytes are
    /// copied first; once none are left, a plain (not TLS) stream receives straight into
    /// <paramref name="destination"/>, so a large read costs no copy of its own.
    /// </summary>
    /// <param name="destination">Must stay valid and unused by others while the read is pending.</param>
    /// <param name="partial">Complete with whatever is there rather than a full buffer.</param>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    public ValueTask<int> ReadIntoAsync(Memory<byte> destination, bool partial = false, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        BeginRead(ReadKind.Into);
        _readInto = destination;
        _readIntoFilled = 0;
        _readPartial = partial;
        if (StartRead() is { } error)
        {
            return ValueTask.FromException<int>(error);
        }

        if (_readKind != ReadKind.None)
        {
            return Cancellable((_intCompletion ??= new LoopCompletion<int>(_loop)).Start(), cancellationToken);
        }

        int filled = _readIntoFilled;
        _readInto = default;
        return new ValueTask<int>(filled);
    }

    /// <summary>
    /// Hands each chunk of incoming data to <paramref name="onChunk"/> as it arrives, until
    /// <paramref name="byteCount"/> bytes were delivered or, with -1, until the peer closes.
    /// Returns the number of bytes delivered. The sequence passed to the callback is valid only
    /// during the call. If the callback throws, the read fails with that exception and the stream
    /// is closed. With a count, a close before it is reached fails the read with
    /// <see cref="StreamClosedException"/>.
    /// </summary>
    /// <param name="onChunk">Called on the loop thread with each chunk.</param>
    /// <param name="byteCount">How many bytes to deliver; -1 for all until the peer closes.</param>
    /// <param name="cancellationToken">Cancels the read while it waits: the stream closes (see <see cref="IOStream"/>).</param>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    public ValueTask<long> ReadStreamingAsync(Action<ReadOnlySequence<byte>> onChunk, long byteCount = -1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onChunk);
        ArgumentOutOfRangeException.ThrowIfLessThan(byteCount, -1);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<long>(cancellationToken);
        }

        BeginRead(ReadKind.Chunks);
        _readChunk = onChunk;
        _readChunkRemaining = byteCount;
        _readChunkTotal = 0;
        if (StartRead() is { } error)
        {
            return ValueTask.FromException<long>(error);
        }

        if (_readKind != ReadKind.None)
        {
            return Cancellable((_longCompletion ??= new LoopCompletion<long>(_loop)).Start(), cancellationToken);
        }

        _readChunk = null;
        return new ValueTask<long>(_readChunkTotal);
    }

    private void BeginRead(ReadKind kind)
    {
        if (_readKind != ReadKind.None)
        {
            throw new InvalidOperationException(_readKind == ReadKind.Pipe
                ? "A read through the stream's Input is outstanding; call AdvanceTo before starting another read."
                : "Already reading: only one read may be pending on a stream at a time.");
        }

        _readKind = kind;
        _scanned = 0;
    }

    private void EndRead()
    {
        _readKind = ReadKind.None;
        _readDelimiter = default;
        _readRegex = null;
    }

    private Exception TakeResultError()
    {
        Exception error = _resultError!;
        _resultError = null;
        return error;
    }

    private ValueTask<byte[]> StartBytesRead()
    {
        if (StartRead() is { } error)
        {
            return ValueTask.FromException<byte[]>(error);
        }

        if (_readKind != ReadKind.None)
        {
            return (_bytesCompletion ??= new LoopCompletion<byte[]>(_loop)).Start();
        }

        byte[] result = _resultBytes!;
        _resultBytes = null;
        return new ValueTask<byte[]>(result);
    }

    /// <summary>
    /// Serves a read that was just begun from the buffer (Tornado's <c>_try_inline_read</c>).
    /// Returns null with the read still set if it must wait, null with the read cleared if it is
    /// done (results in their fields), or the error it failed with (read cleared, stream closed).
    /// </summary>
    private Exception? StartRead()
    {
        ReadStatus status;
        Exception? error;
        while (true)
        {
            bool closedBefore = _closed;
            status = Satisfy(atClose: closedBefore);
            error = status == ReadStatus.Failed ? TakeResultError() : null;
            if (status != ReadStatus.Pending)
            {
                break;
            }

            if (_closed && !closedBefore)
            {
                // A chunk callback closed the stream: look again with the rules for a closed stream.
                continue;
            }

            error = _closed ? StreamClosedException.For(_error) : BufferFullError();
            if (error is not null)
            {
                break;
            }

            // Making room may receive at once (a TLS stream's pump resumes inline and can find
            // decrypted data waiting) or even close. The read must not be completed from in
            // there: its awaiter does not exist yet. So it is only looked at again here.
            long buffered = _buffered;
            bool closed = _closed;
            _startingRead = true;
            try
            {
                OnReadRoom();
            }
            finally
            {
                _startingRead = false;
            }

            if (_buffered == buffered && _closed == closed)
            {
                return null;
            }
        }

        EndRead();
        if (error is not null)
        {
            CloseForReadError(error);
        }
        else
        {
            OnReadRoom();
        }

        return error;
    }

    /// <summary>One receive into the pipe, then the pending read gets its chance.</summary>
    private void ReceiveIntoBuffer()
    {
        if (_readKind == ReadKind.Into && _buffered == 0 && !_startingRead)
        {
            ReceiveIntoReadersMemory();
            return;
        }

        Memory<byte> memory = GetReceiveMemory();
        int n = SocketReceive(memory.Span, out SocketError error);
        if (error == SocketError.Success)
        {
            if (n == 0)
            {
                Close();
                return;
            }

            CommitReceived(n);
        }
        else if (error is not (SocketError.WouldBlock or SocketError.Interrupted))
        {
            CloseWithSocketError(error, "read");
        }
    }

    /// <summary>
    /// A read into the caller's memory (<see cref="ReadIntoAsync"/>) with nothing buffered: one
    /// receive straight into that memory, of as much as it has room for, rather than into the
    /// pipe and then copied (as Tornado's <c>read_into</c> reads into the caller's buffer). A large
    /// body read this way is copied once, by the kernel. Not for a TLS stream, whose bytes must
    /// be decrypted first (its own receive replaces this one).
    /// </summary>
    private void ReceiveIntoReadersMemory()
    {
        int n = SocketReceive(_readInto.Span[_readIntoFilled..], out SocketError error);
        if (error == SocketError.Success)
        {
            if (n == 0)
            {
                // The read then settles as at any close: done if partial and filled, else failed.
                Close();
                return;
            }

            _readIntoFilled += n;
            if (_readIntoFilled == _readInto.Length || _readPartial)
            {
                EndRead();
                Deliver(ReadKind.Into, null);
                OnReadRoom();
            }
        }
        else if (error is not (SocketError.WouldBlock or SocketError.Interrupted))
        {
            CloseWithSocketError(error, "read");
        }
    }

    /// <summary>Room in the pipe for one receive of at most a read chunk.</summary>
    private protected Memory<byte> GetReceiveMemory()
    {
        int chunk = _options.EffectiveReadChunkSize;
        Memory<byte> memory = _pipeWriter.GetMemory(1);
        if (memory.Length < _minimumReceive)
        {
            memory = _pipeWriter.GetMemory(chunk);
        }

        return memory.Length > chunk ? memory[..chunk] : memory;
    }

    /// <summary>Makes <paramref name="count"/> received bytes visible to readers and serves the pending read.</summary>
    private protected void CommitReceived(int count)
    {
        _pipeWriter.Advance(count);
        _buffered += count;
        _inputExaminedAll = false;

        // No pause threshold is set, so the flush completes synchronously. No reader ever waits on
        // the pipe itself: a read waiting on Input is completed here, inline.
        ValueTask<FlushResult> flush = _pipeWriter.FlushAsync();
        if (!flush.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The stream's pipe did not complete a flush synchronously.");
        }

        if (_inputWaiting)
        {
            CompleteInputRead();
        }

        if (_closed)
        {
            return;
        }

        ProcessRead();
    }

    /// <summary>Tries to satisfy the pending read with what is buffered; completes it if done.</summary>
    private void ProcessRead()
    {
        if (_readKind is ReadKind.None or ReadKind.Pipe || _startingRead)
        {
            return;
        }

        ReadStatus status = Satisfy(atClose: false);
        if (status == ReadStatus.Pending && _closed)
        {
            // A chunk callback closed the stream: settle the read as a close would have.
            CompleteReadAtClose();
            return;
        }

        Exception? error = status == ReadStatus.Failed ? TakeResultError() : null;
        if (status == ReadStatus.Pending)
        {
            error = BufferFullError();
            if (error is null)
            {
                return;
            }
        }

        ReadKind kind = _readKind;
        EndRead();
        if (error is not null)
        {
            CloseForReadError(error);
        }

        Deliver(kind, error);
        OnReadRoom();
    }

    /// <summary>
    /// A read that needs its whole result buffered cannot be satisfied once the buffer is full
    /// (Tornado's "Reached maximum read buffer size").
    /// </summary>
    private StreamBufferFullException? BufferFullError()
    {
        if (_buffered < _options.MaxBufferSize || _readKind is ReadKind.Into or ReadKind.Chunks || (_readKind == ReadKind.Bytes && _readPartial))
        {
            return null;
        }

        return new StreamBufferFullException($"Reached maximum read buffer size ({_options.MaxBufferSize} bytes)");
    }

    /// <summary>A failed read closes the stream: the data can no longer be framed.</summary>
    private void CloseForReadError(Exception error)
    {
        if (_closed)
        {
            return;
        }

        if (error is UnsatisfiableReadException)
        {
            StreamLog.UnsatisfiableRead(_logger, error.Message);
        }
        else if (error is StreamBufferFullException)
        {
            StreamLog.ReadBufferFull(_logger, _options.MaxBufferSize);
        }

        Close(error);
    }

    /// <summary>Hands the result of a read of <paramref name="kind"/> to its awaiter. The read state was cleared first, so the awaiter may start the next read.</summary>
    private void Deliver(ReadKind kind, Exception? error)
    {
        switch (kind)
        {
            case ReadKind.Into:
                {
                    int filled = _readIntoFilled;
                    _readInto = default;
                    if (error is null)
                    {
                        _intCompletion!.SetResult(filled);
                    }
                    else
                    {
                        _intCompletion!.SetException(error);
                    }

                    break;
                }

            case ReadKind.Chunks:
                {
                    long total = _readChunkTotal;
                    _readChunk = null;
                    if (error is null)
                    {
                        _longCompletion!.SetResult(total);
                    }
                    else
                    {
                        _longCompletion!.SetException(error);
                    }

                    break;
                }

            default:
                {
                    byte[]? result = _resultBytes;
                    _resultBytes = null;
                    if (error is null)
                    {
                        _bytesCompletion!.SetResult(result!);
                    }
                    else
                    {
                        _bytesCompletion!.SetException(error);
                    }

                    break;
                }
        }
    }

    /// <summary>At close: a pending read the buffer satisfies completes; any other fails.</summary>
    private void CompleteReadAtClose()
    {
        if (_readKind is ReadKind.None or ReadKind.Pipe || _startingRead || _inChunkCallback)
        {
            return;
        }

        ReadStatus status = Satisfy(atClose: true);
        Exception? error = status switch
        {
            ReadStatus.Failed => TakeResultError(),
            ReadStatus.Pending => StreamClosedException.For(_error),
            _ => null,
        };
        ReadKind kind = _readKind;
        EndRead();
        Deliver(kind, error);
    }
}
