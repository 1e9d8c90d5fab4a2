using System.IO.Pipelines;
using System.Net.Sockets;
using Loop.Streams;

namespace Loop;

public partial class IOStream
{
    private readonly WriteBuffer _writeBuffer;
    private Action<LoopCompletion<FlushResult>>? _returnWriteCompletion;
    private CompletionPool<FlushResult> _writePool;
    private StreamOutput? _output;

    // Stream offsets: bytes ever accepted for writing, and bytes the kernel has taken.
    private long _writeQueued;
    private long _writeSent;

    // Writes waiting for their bytes to be sent, in order of EndIndex.
    private LoopCompletion<FlushResult>? _writeHead;
    private LoopCompletion<FlushResult>? _writeTail;

    /// <summary>
    /// The write side as a <see cref="PipeWriter"/>: write into <c>GetSpan</c>/<c>GetMemory</c>,
    /// <c>Advance</c>, then <c>FlushAsync</c>, which sends at once and completes when the kernel
    /// has the bytes. A flush on a closed stream fails with <see cref="StreamClosedException"/>.
    /// <c>Complete</c> with an exception closes the stream with it; without, it does nothing.
    /// </summary>
    public PipeWriter Output => _output ??= new StreamOutput(this);

    /// <summary>Bytes accepted by writes and not yet taken by the kernel.</summary>
    public long PendingWriteByteCount => _writeBuffer.Length;

    /// <summary>
    /// Writes <paramref name="data"/>. The socket is tried at once; only what the kernel does not
    /// take is copied into the stream's buffer, so <paramref name="data"/> may be reused as soon
    /// as this returns. The task completes once every byte of this write has been handed to the
    /// kernel; writes complete in order. Before the stream is connected, the data waits in the
    /// buffer.
    /// </summary>
    /// <exception cref="StreamClosedException">(In the task.) The stream is closed, or closed before the data was sent.</exception>
    /// <exception cref="StreamBufferFullException">(In the task.) The data would take the write buffer past <see cref="IOStreamOptions.MaxWriteBufferSize"/>; nothing was written.</exception>
    /// <param name="data">The bytes; free for reuse as soon as this returns.</param>
    /// <param name="cancellationToken">Cancels the wait for the bytes to be sent: the stream closes (see <see cref="IOStream"/>).</param>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (_closed)
        {
            return ValueTask.FromException(StreamClosedException.For(_error));
        }

        if (data.IsEmpty)
        {
            return default;
        }

        if (_options.MaxWriteBufferSize > 0 && _writeBuffer.Length + data.Length > _options.MaxWriteBufferSize)
        {
            return ValueTask.FromException(new StreamBufferFullException($"Reached maximum write buffer size ({_options.MaxWriteBufferSize} bytes)"));
        }

        return Cancellable(WriteCore(data), cancellationToken);
    }

    /// <summary>Writes through whatever layer the stream has (TLS encrypts first).</summary>
    private protected virtual ValueTask WriteCore(ReadOnlyMemory<byte> data)
    {
        if (!WriteRaw(data.Span))
        {
            return ValueTask.FromException(StreamClosedException.For(_error));
        }

        return WhenSent();
    }

    /// <summary>
    /// Sends <paramref name="data"/> or buffers the rest. Returns false if the stream closed
    /// (a send failed).
    /// </summary>
    private protected bool WriteRaw(ReadOnlySpan<byte> data)
    {
        if (_closed)
        {
            return false;
        }

        if (_writeBuffer.IsEmpty && _connected)
        {
            int sent = SendNow(data);
            if (sent < 0)
            {
                return false;
            }

            _writeQueued += sent;
            _writeSent += sent;
            data = data[sent..];
            if (data.IsEmpty)
            {
                return true;
            }

            _writeBuffer.Append(data);
            _writeQueued += data.Length;
            UpdateInterest();
            return true;
        }

        _writeBuffer.Append(data);
        _writeQueued += data.Length;
        TryFlushIfIdle();
        return !_closed;
    }

    /// <summary>A task for everything accepted so far having been sent.</summary>
    private protected ValueTask WhenSent()
    {
        if (_writeSent >= _writeQueued)
        {
            return default;
        }

        return EnqueueWriteCompletion().StartNonGeneric();
    }

    private LoopCompletion<FlushResult> EnqueueWriteCompletion()
    {
        LoopCompletion<FlushResult> completion = _writePool.Rent(_loop, _returnWriteCompletion ??= c => _writePool.Return(c));
        Enqueue(completion);
        return completion;
    }

    /// <summary>Completes <paramref name="completion"/> (already started) once everything accepted so far is sent.</summary>
    private protected void TrackWrite(LoopCompletion<FlushResult> completion)
    {
        if (_writeSent >= _writeQueued)
        {
            completion.SetResult(FlushResults.Ok);
            return;
        }

        Enqueue(completion);
    }

    private void Enqueue(LoopCompletion<FlushResult> completion)
    {
        completion.EndIndex = _writeQueued;
        if (_writeTail is null)
        {
            _writeHead = completion;
        }
        else
        {
            _writeTail.Next = completion;
        }

        _writeTail = completion;
    }

    /// <summary>
    /// Sends while the kernel takes everything. Returns the bytes sent, or -1 if the send failed
    /// and the stream was closed.
    /// </summary>
    private int SendNow(ReadOnlySpan<byte> data)
    {
        int total = 0;
        while (!data.IsEmpty)
        {
            int n = SocketSend(data, out SocketError error);
            if (error == SocketError.Success)
            {
                total += n;
                data = data[n..];

                // A short send means the kernel's buffer is full: the next one would only say so.
                if (!data.IsEmpty)
                {
                    break;
                }
            }
            else if (error == SocketError.Interrupted)
            {
                continue;
            }
            else if (error == SocketError.WouldBlock)
            {
                break;
            }
            else
            {
                KeepWhatArrivedBeforeWriteError();
                CloseWithSocketError(error, "write");
                return -1;
            }
        }

        return total;
    }

    /// <summary>
    /// A send failed (EPIPE, ECONNRESET): the peer may have answered and closed without reading
    /// everything (an early 413 to a large upload), and its answer may still sit in the kernel,
    /// not yet read because no readable event came first. Take it into the buffer, so that it
    /// stays readable after the close like anything received before. Pending reads are left to
    /// the close to settle. Only the plain stream's bytes are the reader's; a TLS stream's are not.
    /// </summary>
    private void KeepWhatArrivedBeforeWriteError()
    {
        if (this is SslIOStream || !_connected)
        {
            return;
        }

        while (_buffered < _options.MaxBufferSize)
        {
            Memory<byte> memory = GetReceiveMemory();
            int n = SocketReceive(memory.Span, out SocketError error);
            if (error != SocketError.Success || n == 0)
            {
                return;
            }

            _pipeWriter.Advance(n);
            _buffered += n;
            _inputExaminedAll = false;
            if (!_pipeWriter.FlushAsync().IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("The stream's pipe did not complete a flush synchronously.");
            }
        }
    }

    /// <summary>Sends buffered data if no writable event is awaited already (data was just added).</summary>
    private void TryFlushIfIdle()
    {
        if (_connected && (_interest & IOEvents.Write) == 0)
        {
            FlushWrites();
        }

        UpdateInterest();
    }

    /// <summary>Sends from the buffer until it is empty or the kernel is full, then completes the writes that are done.</summary>
    private void FlushWrites()
    {
        while (!_writeBuffer.IsEmpty)
        {
            ReadOnlySpan<byte> first = _writeBuffer.First;
            int n = SendNow(first);
            if (n < 0)
            {
                return;
            }

            _writeBuffer.Consume(n);
            _writeSent += n;
            if (n < first.Length)
            {
                break;
            }
        }

        CompleteSentWrites();
    }

    private void CompleteSentWrites()
    {
        while (!_closed && _writeHead is { } head && head.EndIndex <= _writeSent)
        {
            _writeHead = head.Next;
            if (_writeHead is null)
            {
                _writeTail = null;
            }

            head.Next = null;
            head.SetResult(FlushResults.Ok);
        }
    }

    private void FailWritesAtClose()
    {
        while (_writeHead is { } head)
        {
            _writeHead = head.Next;
            if (_writeHead is null)
            {
                _writeTail = null;
            }

            head.Next = null;
            if (head.EndIndex <= _writeSent)
            {
                head.SetResult(FlushResults.Ok);
            }
            else
            {
                head.SetException(StreamClosedException.For(_error));
            }
        }
    }

    internal virtual Memory<byte> OutputGetMemory(int sizeHint) => _writeBuffer.GetMemory(sizeHint);

    internal virtual void OutputAdvance(int count)
    {
        _writeBuffer.Advance(count);
        _writeQueued += count;
        _outputUnflushed += count;
    }

    private protected long _outputUnflushed;

    internal long OutputUnflushed => _outputUnflushed;

    /// <summary>A flush of <see cref="Output"/> that <paramref name="cancellationToken"/> can cancel (closing the stream, as for <see cref="WriteAsync"/>).</summary>
    internal ValueTask<FlushResult> OutputFlushAsync(CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? ValueTask.FromCanceled<FlushResult>(cancellationToken)
            : Cancellable(OutputFlushAsync(), cancellationToken);

    internal virtual ValueTask<FlushResult> OutputFlushAsync()
    {
        if (_closed)
        {
            return ValueTask.FromException<FlushResult>(StreamClosedException.For(_error));
        }

        _outputUnflushed = 0;
        if (_writeBuffer.IsEmpty && _writeSent >= _writeQueued)
        {
            return new ValueTask<FlushResult>(FlushResults.Ok);
        }

        TryFlushIfIdle();
        if (_closed)
        {
            return ValueTask.FromException<FlushResult>(StreamClosedException.For(_error));
        }

        if (_writeSent >= _writeQueued)
        {
            return new ValueTask<FlushResult>(FlushResults.Ok);
        }

        return EnqueueWriteCompletion().Start();
    }

    /// <summary>A flush result task for everything accepted so far having been sent.</summary>
    private protected ValueTask<FlushResult> WhenSentAsFlush()
    {
        if (_writeSent >= _writeQueued)
        {
            return new ValueTask<FlushResult>(FlushResults.Ok);
        }

        return EnqueueWriteCompletion().Start();
    }

    internal void OutputComplete(Exception? exception)
    {
        if (exception is not null)
        {
            Close(exception);
        }
    }
}
