using System.Buffers;
using System.IO.Compression;

namespace Loop.Http.Simple;

/// <summary>
/// Decompresses a response body as it arrives (push style): each piece of the encoded body goes
/// in, whatever it decodes to comes out at once, so a size limit on the output stops a
/// compression bomb after at most one output buffer.
/// </summary>
internal abstract class ContentDecoder : IDisposable
{
    private const int OutputSize = 16 * 1024;

    protected ContentDecoder() => Output = ArrayPool<byte>.Shared.Rent(OutputSize);

    protected byte[] Output { get; private set; }

    /// <summary>A decoder for <paramref name="encoding"/> (gzip, x-gzip, deflate, br), or null if it is not one we decode.</summary>
    public static ContentDecoder? For(string encoding) => encoding.Trim().ToLowerInvariant() switch
    {
        "gzip" or "x-gzip" => new StreamDecoder(feed => new GZipStream(feed, CompressionMode.Decompress)),
        "deflate" => new StreamDecoder(null),
        "br" => new BrotliContentDecoder(),
        _ => null,
    };

    /// <summary>Decodes <paramref name="input"/>, handing each piece of output to <paramref name="output"/>.</summary>
    /// <exception cref="HttpProtocolError">The data is not valid for the encoding.</exception>
    public abstract void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output);

    public virtual void Dispose()
    {
        byte[] output = Output;
        Output = [];
        if (output.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>gzip, and deflate with or without its zlib wrapper (servers send both), through .NET's stream decoders fed one piece at a time.</summary>
    private sealed class StreamDecoder(Func<Stream, Stream>? create) : ContentDecoder
    {
        private readonly FeedStream _feed = new();
        private Stream? _decoder;

        public override void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output)
        {
            if (input.IsEmpty)
            {
                return;
            }

            _decoder ??= create is not null
                ? create(_feed)
                : IsZlibHeader(input.Span[0]) ? new ZLibStream(_feed, CompressionMode.Decompress) : new DeflateStream(_feed, CompressionMode.Decompress);

            _feed.Current = input;
            try
            {
                int n;
                while ((n = _decoder.Read(Output, 0, Output.Length)) > 0)
                {
                    output(Output.AsMemory(0, n));
                }
            }
            catch (InvalidDataException e)
            {
                throw new HttpProtocolError($"Malformed compressed body: {e.Message}");
            }
        }

        public override void Dispose()
        {
            _decoder?.Dispose();
            base.Dispose();
        }

        // RFC 1950: CM = 8 (deflate) in the low nibble, window ≤ 32 KiB in the high one.
        private static bool IsZlibHeader(byte first) => (first & 0x0F) == 8 && (first >> 4) <= 7;
    }

    /// <summary>A read-only stream that serves the piece of input being decoded, then reports "no more for now".</summary>
    private sealed class FeedStream : Stream
    {
        public ReadOnlyMemory<byte> Current { get; set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, Current.Length);
            Current.Span[..n].CopyTo(buffer);
            Current = Current[n..];
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class BrotliContentDecoder : ContentDecoder
    {
        private BrotliDecoder _decoder;

        public override void Decode(ReadOnlyMemory<byte> input, Action<ReadOnlyMemory<byte>> output)
        {
            ReadOnlySpan<byte> source = input.Span;
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
                        throw new HttpProtocolError("Malformed compressed body: invalid brotli data");
                    case OperationStatus.DestinationTooSmall:
                        continue;
                    case OperationStatus.Done when !source.IsEmpty:
                        throw new HttpProtocolError("Malformed compressed body: data after the end of the brotli stream");
                    default:
                        return;
                }
            }
        }

        public override void Dispose()
        {
            _decoder.Dispose();
            base.Dispose();
        }
    }
}
