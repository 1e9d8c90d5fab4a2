using System.Buffers;
using System.IO.Compression;

namespace Loop.Http.Decoding;

/// <summary>
/// Undoes a body's codings as it arrives (push style), for both clients: each piece of the
/// encoded body goes in through <see cref="Decode"/>, whatever it decodes to comes out at once
/// (so a size limit on the output stops a compression bomb after at most one output buffer), and
/// <see cref="Finish"/> at the end of the body checks that every compressed stream reached its
/// end. Every failure is an <see cref="HttpContentDecodingError"/>: corrupt data, a bad
/// checksum, data after the end, or a body cut short, which is never passed off as a whole one.
/// </summary>
/// <remarks>
/// gzip (several members decode one after the other, RFC 1952 §2.2), deflate with or without
/// its zlib wrapper (servers send both), and br. Loop thread only.
/// </remarks>
internal abstract class ContentDecoder : IDisposable
{
    private const int OutputSize = 16 * 1024;

    private byte[] _outputBuffer;

    protected ContentDecoder(string encoding)
    {
        Encoding = encoding;
        _outputBuffer = ArrayPool<byte>.Shared.Rent(OutputSize);
    }

    /// <summary>The coding (or list of codings) this decoder undoes, as the server named it.</summary>
    public string Encoding { get; }

    protected byte[] Output => _outputBuffer;

    /// <summary>
    /// A decoder for <paramref name="codings"/>, a comma-separated list in the order the server
    /// applied them (RFC 9110 §8.4: they are undone in reverse); <c>identity</c> and empty
    /// elements are skipped, so <paramref name="decoder"/> is null when nothing needs undoing.
    /// Returns false, with the first coding it does not know in <paramref name="unknown"/>, when
    /// one is not gzip, x-gzip, deflate or br.
    /// </summary>
    public static bool TryCreate(string codings, out ContentDecoder? decoder, out string? unknown)
    {
        decoder = null;
        unknown = null;
        ReadOnlySpan<char> list = codings;
        Span<Range> parts = stackalloc Range[16];
        int count = list.Split(parts, ',');
        if (count == parts.Length)
        {
            // More codings than any server applies: refuse rather than undo a few.
            unknown = codings.Trim();
            return false;
        }

        ContentDecoder? chain = null;
        for (int i = count - 1; i >= 0; i--)
        {
            string name = list[parts[i]].Trim(" \t").ToString().ToLowerInvariant();
            if (name.Length == 0 || name == "identity")
            {
                continue;
            }

            ContentDecoder? next = name switch
            {
                "gzip" or "x-gzip" => new InflateDecoder(name, ZLibNative.GZip),
                "deflate" => new InflateDecoder(name, windowBits: 0),
                "br" => new BrotliContentDecoder(),
                _ => null,
            };
            if (next is null)
            {
                chain?.Dispose();
                unknown = name;
                return false;
            }

            chain = chain is null ? next : new ChainDecoder(codings.Trim(), chain, next);
        }

        decoder = chain;
        return true;
    }

    /// <summary>Decodes <paramref name="input"/>, handing each piece of output to <paramref name="output"/> (valid only during the call).</summary>
    /// <exception cref="HttpContentDecodingError">The data is not valid for the coding.</exception>
    public abstract void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output);

    /// <summary>The body has ended: hands over any output still held and checks that the compressed data ended too.</summary>
    /// <exception cref="HttpContentDecodingError">The body stopped before the end of the compressed data.</exception>
    public abstract void Finish(Action<ReadOnlyMemory<byte>> output);

    public virtual void Dispose()
    {
        byte[] output = _outputBuffer;
        _outputBuffer = [];
        if (output.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    private protected HttpContentDecodingError Truncated() =>
        new(Encoding, $"The {Encoding} body ended before the end of its compressed data");

    /// <summary>Two codings: what <c>first</c> decodes goes on through <c>second</c>.</summary>
    private sealed class ChainDecoder : ContentDecoder
    {
        private readonly ContentDecoder _first;
        private readonly ContentDecoder _second;
        private readonly Action<ReadOnlyMemory<byte>> _forward;
        private Action<ReadOnlyMemory<byte>>? _output;

        public ChainDecoder(string encoding, ContentDecoder first, ContentDecoder second)
            : base(encoding)
        {
            _first = first;
            _second = second;
            _forward = piece => _second.Decode(piece, _output!);
        }

        public override void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output)
        {
            _output = output;
            _first.Decode(input, _forward);
        }

        public override void Finish(Action<ReadOnlyMemory<byte>> output)
        {
            _output = output;
            _first.Finish(_forward);
            _second.Finish(output);
        }

        public override void Dispose()
        {
            _first.Dispose();
            _second.Dispose();
            base.Dispose();
        }
    }

    /// <summary>gzip and deflate through zlib's inflate, which says where a compressed stream ends.</summary>
    private sealed unsafe class InflateDecoder(string encoding, int windowBits) : ContentDecoder(encoding)
    {
        private InflateHandle? _stream;
        private int _windowBits = windowBits;
        private bool _ended;

        public override void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output)
        {
            ReadOnlySpan<byte> source = input.Span;
            if (source.IsEmpty)
            {
                return;
            }

            if (_stream is null)
            {
                if (_windowBits == 0)
                {
                    _windowBits = IsZLibHeader(source) ? ZLibNative.ZLib : ZLibNative.RawDeflate;
                }

                _stream = InflateHandle.Create(Encoding, _windowBits);
            }

            ZLibNative.ZStream* stream = _stream.Stream;
            byte[] buffer = Output;
            fixed (byte* first = source)
            {
                byte* next = first;
                uint left = (uint)source.Length;
                while (left > 0 || stream->AvailOut == 0)
                {
                    if (_ended)
                    {
                        if (left == 0)
                        {
                            return;
                        }

                        if (_windowBits != ZLibNative.GZip)
                        {
                            throw new HttpContentDecodingError(Encoding, $"Data after the end of the {Encoding} stream");
                        }

                        // Another gzip member: its header must follow at once (junk fails the header check).
                        _ = ZLibNative.InflateReset2(stream, ZLibNative.GZip);
                        _ended = false;
                    }

                    int produced;
                    int code;
                    fixed (byte* target = buffer)
                    {
                        stream->NextIn = next;
                        stream->AvailIn = left;
                        stream->NextOut = target;
                        stream->AvailOut = (uint)buffer.Length;
                        code = ZLibNative.Inflate(stream, ZLibNative.NoFlush);
                        next = stream->NextIn;
                        left = stream->AvailIn;
                        produced = buffer.Length - (int)stream->AvailOut;
                        stream->NextIn = null;
                        stream->NextOut = null;
                    }

                    if (produced > 0)
                    {
                        output(buffer.AsMemory(0, produced));
                    }

                    switch (code)
                    {
                        case ZLibNative.StreamEnd:
                            _ended = true;
                            break;
                        case ZLibNative.Ok:
                            break;
                        case ZLibNative.BufError:
                            // No progress without more input.
                            return;
                        default:
                            string reason = stream->Message is null ? $"zlib error {code}" : new string(stream->Message);
                            throw new HttpContentDecodingError(Encoding, $"Malformed {Encoding} body: {reason}");
                    }

                    if (produced < buffer.Length && left == 0)
                    {
                        return;
                    }
                }
            }
        }

        public override void Finish(Action<ReadOnlyMemory<byte>> output)
        {
            // An empty body has nothing to decode; anything else must have reached its end.
            if (_stream is not null && !_ended)
            {
                throw Truncated();
            }
        }

        public override void Dispose()
        {
            _stream?.Dispose();
            _stream = null;
            base.Dispose();
        }

        // RFC 1950 §2.2: CM = 8 (deflate) with a window of at most 32 KiB, and a check value that
        // makes the first two bytes a multiple of 31; a raw deflate stream rarely looks like that.
        private static bool IsZLibHeader(ReadOnlySpan<byte> data) =>
            (data[0] & 0x0F) == 8 && (data[0] >> 4) <= 7 && (data.Length < 2 || ((data[0] << 8) | data[1]) % 31 == 0);
    }

    private sealed class BrotliContentDecoder() : ContentDecoder("br")
    {
        private BrotliDecoder _decoder;
        private bool _started;
        private bool _done;

        public override void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output)
        {
            ReadOnlySpan<byte> source = input.Span;
            if (source.IsEmpty)
            {
                return;
            }

            if (_done)
            {
                throw new HttpContentDecodingError(Encoding, "Data after the end of the br stream");
            }

            _started = true;
            while (true)
            {
                OperationStatus status = _decoder.Decompress(source, Output, out int consumed, out int written);
                source = source[consumed..];
                if (written > 0)
                {
                    output(Output.AsMemory(0, written));
                }

                switch (status)
                {
                    case OperationStatus.InvalidData:
                        throw new HttpContentDecodingError(Encoding, "Malformed br body: invalid brotli data");
                    case OperationStatus.DestinationTooSmall:
                        continue;
                    case OperationStatus.Done:
                        _done = true;
                        if (!source.IsEmpty)
                        {
                            throw new HttpContentDecodingError(Encoding, "Data after the end of the br stream");
                        }

                        return;
                    default:
                        return;
                }
            }
        }

        public override void Finish(Action<ReadOnlyMemory<byte>> output)
        {
            if (_started && !_done)
            {
                throw Truncated();
            }
        }

        public override void Dispose()
        {
            _decoder.Dispose();
            base.Dispose();
        }
    }
}
