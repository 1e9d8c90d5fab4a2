using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.RegularExpressions;
using Loop.Streams;

namespace Loop;

/// <summary>
/// Whether the buffered bytes satisfy the pending read (a delimiter, a regex, a count, the
/// end of the stream), taking what it needs from the buffer; the reads themselves and the
/// receiving that feeds them are in IOStream.Read.cs.
/// </summary>
public partial class IOStream
{
    /// <summary>
    /// Takes what the pending read needs from the buffer. Results go to <see cref="_resultBytes"/>,
    /// <see cref="_readIntoFilled"/> or <see cref="_readChunkTotal"/>; a failure to
    /// <see cref="_resultError"/>.
    /// </summary>
    private ReadStatus Satisfy(bool atClose)
    {
        if (_inputCompleted)
        {
            _resultError = new InvalidOperationException("The stream's Input was completed; the buffer can no longer be read.");
            return ReadStatus.Failed;
        }

        bool haveBuffer = _pipeReader.TryRead(out ReadResult readResult);
        ReadOnlySequence<byte> buffer = haveBuffer ? readResult.Buffer : default;
        long consumed = 0;
        ReadStatus status = ReadStatus.Pending;
        switch (_readKind)
        {
            case ReadKind.Bytes:
                if (buffer.Length >= _readCount)
                {
                    consumed = Take(buffer, _readCount);
                    status = ReadStatus.Done;
                }
                else if (_readPartial && buffer.Length > 0)
                {
                    consumed = Take(buffer, buffer.Length);
                    status = ReadStatus.Done;
                }

                break;

            case ReadKind.Until:
                status = SatisfyDelimiter(buffer, ref consumed);
                break;

            case ReadKind.Regex:
                status = SatisfyRegex(buffer, ref consumed);
                break;

            case ReadKind.UntilClose:
                if (atClose)
                {
                    consumed = Take(buffer, buffer.Length);
                    status = ReadStatus.Done;
                }

                break;

            case ReadKind.Into:
                {
                    int n = (int)Math.Min(buffer.Length, _readInto.Length - _readIntoFilled);
                    buffer.Slice(0, n).CopyTo(_readInto.Span[_readIntoFilled..]);
                    _readIntoFilled += n;
                    consumed = n;
                    if (_readIntoFilled == _readInto.Length || (_readPartial && _readIntoFilled > 0))
                    {
                        status = ReadStatus.Done;
                    }

                    break;
                }

            case ReadKind.Chunks:
                {
                    long n = _readChunkRemaining < 0 ? buffer.Length : Math.Min(buffer.Length, _readChunkRemaining);
                    if (n > 0)
                    {
                        try
                        {
                            _inChunkCallback = true;
                            _readChunk!(buffer.Slice(0, n));
                        }
                        catch (Exception e)
                        {
                            // The chunk counts as consumed; the read fails with the callback's exception.
                            _pipeReader.AdvanceTo(buffer.GetPosition(n));
                            _buffered -= n;
                            _resultError = e;
                            return ReadStatus.Failed;
                        }
                        finally
                        {
                            _inChunkCallback = false;
                        }

                        consumed = n;
                        _readChunkTotal += n;
                        if (_readChunkRemaining > 0)
                        {
                            _readChunkRemaining -= n;
                        }
                    }

                    if (_readChunkRemaining == 0 || (atClose && _readChunkRemaining < 0))
                    {
                        status = ReadStatus.Done;
                    }

                    break;
                }
        }

        if (haveBuffer)
        {
            _pipeReader.AdvanceTo(buffer.GetPosition(consumed));
            _buffered -= consumed;
            _inputExaminedAll = false;
            if (readResult.IsCanceled)
            {
                _inputCancelPending = false;
            }
        }

        return status;
    }

    private long Take(in ReadOnlySequence<byte> buffer, long count)
    {
        _resultBytes = count == 0 ? [] : buffer.Slice(0, count).ToArray();
        return count;
    }

    private ReadStatus SatisfyDelimiter(in ReadOnlySequence<byte> buffer, ref long consumed)
    {
        ReadOnlySpan<byte> delimiter = _readDelimiter.Span;
        long position = -1;
        if (buffer.Length >= delimiter.Length)
        {
            if (buffer.IsSingleSegment)
            {
                int found = buffer.FirstSpan[(int)_scanned..].IndexOf(delimiter);
                position = found < 0 ? -1 : _scanned + found;
            }
            else
            {
                var reader = new SequenceReader<byte>(buffer);
                reader.Advance(_scanned);
                if (reader.TryReadTo(out ReadOnlySequence<byte> _, delimiter, advancePastDelimiter: false))
                {
                    position = reader.Consumed;
                }
            }

            if (position < 0)
            {
                _scanned = buffer.Length - delimiter.Length + 1;
            }
        }

        if (position >= 0)
        {
            long end = position + delimiter.Length;
            if (_readMaxBytes > 0 && end > _readMaxBytes)
            {
                return Unsatisfiable(delimiter.Length <= 32 ? $"delimiter {Describe(delimiter)} not found within {_readMaxBytes} bytes" : $"delimiter not found within {_readMaxBytes} bytes");
            }

            consumed = Take(buffer, end);
            return ReadStatus.Done;
        }

        if (_readMaxBytes > 0 && buffer.Length > _readMaxBytes)
        {
            return Unsatisfiable($"delimiter {Describe(delimiter)} not found within {_readMaxBytes} bytes");
        }

        return ReadStatus.Pending;
    }

    private ReadStatus SatisfyRegex(in ReadOnlySequence<byte> buffer, ref long consumed)
    {
        long end = -1;
        if (buffer.Length > 0)
        {
            // A match must end within maxBytes, so nothing past it needs decoding or matching:
            // that bounds the work of each look (the whole buffer is looked at again on every
            // receive, since a pattern cannot resume where it stopped).
            ReadOnlySequence<byte> window = _readMaxBytes > 0 && buffer.Length > _readMaxBytes ? buffer.Slice(0, _readMaxBytes) : buffer;
            int length = checked((int)window.Length);
            char[] chars = ArrayPool<char>.Shared.Rent(length);
            try
            {
                Encoding.Latin1.GetChars(window, chars);
                foreach (ValueMatch match in _readRegex!.EnumerateMatches(chars.AsSpan(0, length)))
                {
                    end = match.Index + match.Length;
                    break;
                }
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }

        if (end >= 0)
        {
            if (_readMaxBytes > 0 && end > _readMaxBytes)
            {
                return Unsatisfiable($"pattern {_readRegex} not found within {_readMaxBytes} bytes");
            }

            consumed = Take(buffer, end);
            return ReadStatus.Done;
        }

        if (_readMaxBytes > 0 && buffer.Length > _readMaxBytes)
        {
            return Unsatisfiable($"pattern {_readRegex} not found within {_readMaxBytes} bytes");
        }

        return ReadStatus.Pending;
    }

    private ReadStatus Unsatisfiable(string message)
    {
        _resultError = new UnsatisfiableReadException(message);
        return ReadStatus.Failed;
    }

    private static string Describe(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder("b'");
        foreach (byte b in bytes)
        {
            text.Append(b switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                (byte)'\t' => "\\t",
                (byte)'\\' => "\\\\",
                (byte)'\'' => "\\'",
                >= 0x20 and < 0x7F => ((char)b).ToString(),
                _ => $"\\x{b:x2}",
            });
        }

        return text.Append('\'').ToString();
    }
}
