using System.IO.Compression;
using Loop.Http;
using Loop.Http.Body;
using Loop.Http.Decoding;

namespace Loop.Tests.Http;

/// <summary>The shared content decoder and body buffer, fed one byte at a time as well as whole.</summary>
public sealed class ContentDecoderTests
{
    private static readonly byte[] s_text = MakeText(18_000);

    public static IEnumerable<TestCaseData> Encoded()
    {
        yield return new TestCaseData("gzip", Gzip(s_text)).SetArgDisplayNames("gzip");
        yield return new TestCaseData("x-gzip", Gzip(s_text)).SetArgDisplayNames("x-gzip");
        yield return new TestCaseData("deflate", ZLib(s_text)).SetArgDisplayNames("deflate-zlib");
        yield return new TestCaseData("deflate", Deflate(s_text)).SetArgDisplayNames("deflate-raw");
        yield return new TestCaseData("br", Brotli(s_text)).SetArgDisplayNames("br");
        yield return new TestCaseData("br, gzip", Gzip(Brotli(s_text))).SetArgDisplayNames("br-then-gzip");
        yield return new TestCaseData("identity, gzip", Gzip(s_text)).SetArgDisplayNames("identity-gzip");
    }

    [TestCaseSource(nameof(Encoded))]
    public void Decode_WholeOrByteByByte_GivesTheOriginal(string codings, byte[] encoded)
    {
        Assert.That(DecodeAll(codings, encoded, pieceSize: encoded.Length), Is.EqualTo(s_text));
        Assert.That(DecodeAll(codings, encoded, pieceSize: 1), Is.EqualTo(s_text));
    }

    [TestCaseSource(nameof(Encoded))]
    public void Finish_BodyCutShort_IsADecodingError(string codings, byte[] encoded)
    {
        foreach (int cut in new[] { encoded.Length / 2, encoded.Length - 1 })
        {
            HttpContentDecodingError error = Assert.Throws<HttpContentDecodingError>(() => DecodeAll(codings, encoded[..cut], pieceSize: 7))!;
            Assert.That(error.Code, Is.EqualTo(599));
            Assert.That(error.Message, Does.Contain("ended before the end").Or.Contain("Malformed"), $"cut at {cut}");
        }
    }

    [Test]
    public void Decode_GzipWithABadChecksum_IsADecodingError()
    {
        byte[] gzip = Gzip(s_text);
        gzip[^6] ^= 1;
        HttpContentDecodingError error = Assert.Throws<HttpContentDecodingError>(() => DecodeAll("gzip", gzip, pieceSize: 100))!;
        Assert.That(error.Encoding, Is.EqualTo("gzip"));
        Assert.That(error.Message, Does.Contain("check"));
    }

    [Test]
    public void Decode_SeveralGzipMembers_DecodesThemAll()
    {
        byte[] members = [.. Gzip(s_text[..5000]), .. Gzip(s_text[5000..])];
        Assert.That(DecodeAll("gzip", members, pieceSize: 1), Is.EqualTo(s_text));
        Assert.That(DecodeAll("gzip", members, pieceSize: members.Length), Is.EqualTo(s_text));
    }

    [TestCase("gzip")]
    [TestCase("deflate")]
    [TestCase("br")]
    public void Decode_JunkAfterTheEnd_IsADecodingError(string coding)
    {
        byte[] encoded = coding switch { "gzip" => Gzip(s_text), "deflate" => ZLib(s_text), _ => Brotli(s_text) };
        byte[] withJunk = [.. encoded, .. "junk"u8];
        Assert.Throws<HttpContentDecodingError>(() => DecodeAll(coding, withJunk, pieceSize: 1));
    }

    [Test]
    public void Finish_EmptyBody_IsNotAnError()
    {
        Assert.That(DecodeAll("gzip", [], pieceSize: 1), Is.Empty);
    }

    [TestCase("zstd", "zstd")]
    [TestCase("gzip, compress", "compress")]
    [TestCase("x-unknown", "x-unknown")]
    public void TryCreate_UnknownCoding_SaysWhich(string codings, string unknown)
    {
        Assert.That(ContentDecoder.TryCreate(codings, out ContentDecoder? decoder, out string? found), Is.False);
        Assert.That(decoder, Is.Null);
        Assert.That(found, Is.EqualTo(unknown));
    }

    [TestCase("identity")]
    [TestCase(" , identity")]
    public void TryCreate_NothingToUndo_GivesNoDecoder(string codings)
    {
        Assert.That(ContentDecoder.TryCreate(codings, out ContentDecoder? decoder, out _), Is.True);
        Assert.That(decoder, Is.Null);
    }

    [Test]
    public void BodyBuffer_GrowsInSegments_AndGivesBackExactlyWhatWasKept()
    {
        using var buffer = new BodyBuffer(limit: 10_000_000);
        var random = new Random(7);
        var expected = new MemoryStream();
        for (int i = 0; i < 300; i++)
        {
            byte[] piece = new byte[random.Next(0, 20_000)];
            random.NextBytes(piece);
            buffer.Append(piece);
            expected.Write(piece);
        }

        Assert.That(buffer.Stored, Is.EqualTo(expected.Length));
        Assert.That(buffer.ToArray(), Is.EqualTo(expected.ToArray()));
        Assert.That(buffer.Stored, Is.Zero);
    }

    [Test]
    public void BodyBuffer_KnownLength_HandsOverItsOneArray()
    {
        using var buffer = new BodyBuffer(limit: 1000);
        buffer.ExpectLength(6);
        buffer.Append("abc"u8);
        buffer.Append("def"u8);
        byte[] body = buffer.ToArray();
        Assert.That(body, Is.EqualTo("abcdef"u8.ToArray()));
    }

    [Test]
    public void BodyBuffer_PastTheLimit_ThrowsBodyTooLarge_KeptOrSkipped()
    {
        using var buffer = new BodyBuffer(limit: 10);
        buffer.Skip(6);
        buffer.Append("1234"u8);
        HttpBodyTooLargeError error = Assert.Throws<HttpBodyTooLargeError>(() => buffer.Append("5"u8))!;
        Assert.That(error.Limit, Is.EqualTo(10));
        Assert.That(error.DeclaredLength, Is.Null);
        Assert.That(buffer.Stored, Is.EqualTo(4));
        buffer.Reset(limit: 3);
        Assert.Throws<HttpBodyTooLargeError>(() => buffer.Skip(4));
    }

    [Test]
    public void BodyBuffer_LargeDecodedBody_IsDecodedAgainFromItsRawBytes_AtAboutOnceItsSize()
    {
        // gzip as the content coding, br as a transfer coding before chunked: one chain replays both.
        byte[] original = MakeText(6 * 1024 * 1024);
        byte[] encoded = Brotli(Gzip(original));
        using var buffer = new BodyBuffer(limit: original.Length);
        long before = GC.GetAllocatedBytesForCurrentThread();
        byte[] body = Feed(buffer, "gzip", "br", encoded, pieceSize: 16 * 1024);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(body, Is.EqualTo(original));
        // The body's array, the raw bytes (segments that grow by doubling) and the first MiB of
        // decoded segments; keeping the decoded bytes and copying them made 2.66x here.
        Assert.That(allocated, Is.LessThan((original.Length * 1.3) + (encoded.Length * 2)), $"{allocated / (double)original.Length:F2}x of the body, encoded {encoded.Length / (double)original.Length:F2}x");
    }

    [Test]
    public void BodyBuffer_IncompressibleDecodedBody_KeepsTheDecodedBytes()
    {
        // Raw bytes no smaller than the decoded ones: nothing to gain from decoding again.
        byte[] original = new byte[3 * 1024 * 1024];
        new Random(11).NextBytes(original);
        using var buffer = new BodyBuffer(limit: original.Length);
        Assert.That(Feed(buffer, "gzip", null, Gzip(original), pieceSize: 10_000), Is.EqualTo(original));
    }

    [Test]
    public void BodyBuffer_RawBytesOfAReplayedBodyPastTheLimit_AreBodyTooLarge()
    {
        // Empty gzip members decode to nothing: their raw bytes are bounded by the limit all the same.
        const int Limit = 4 * 1024 * 1024;
        using var buffer = new BodyBuffer(limit: Limit);
        Assert.That(ContentDecoder.TryCreate("gzip", out ContentDecoder? decoder, out _), Is.True);
        using (decoder)
        {
            buffer.KeepRaw(decoder, null);
            Action<ReadOnlyMemory<byte>> sink = piece => buffer.Append(piece.Span);
            byte[] large = Gzip(new byte[2 * 1024 * 1024]);
            buffer.AppendRaw(large);
            decoder!.Decode(large, sink);
            // A gzip member of no data: header, an empty fixed-Huffman block, CRC-32 and size 0.
            byte[] member = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            byte[] empty = [.. Enumerable.Range(0, 1000).SelectMany(_ => member)];
            Assert.Throws<HttpBodyTooLargeError>(() =>
            {
                for (int i = 0; i < Limit / empty.Length + 1; i++)
                {
                    buffer.AppendRaw(empty);
                    decoder.Decode(empty, sink);
                }
            });
        }
    }

    private static byte[] Feed(BodyBuffer buffer, string? content, string? transfer, byte[] encoded, int pieceSize)
    {
        ContentDecoder? contentDecoder = null;
        ContentDecoder? transferDecoder = null;
        Assert.That(content is null || ContentDecoder.TryCreate(content, out contentDecoder, out _), Is.True);
        Assert.That(transfer is null || ContentDecoder.TryCreate(transfer, out transferDecoder, out _), Is.True);
        using (contentDecoder)
        using (transferDecoder)
        {
            buffer.KeepRaw(contentDecoder, transferDecoder);
            Action<ReadOnlyMemory<byte>> keep = piece => buffer.Append(piece.Span);
            Action<ReadOnlyMemory<byte>> afterTransfer = contentDecoder is null ? keep : piece => contentDecoder.Decode(piece, keep);
            for (int i = 0; i < encoded.Length; i += pieceSize)
            {
                ReadOnlyMemory<byte> piece = encoded.AsMemory(i, Math.Min(pieceSize, encoded.Length - i));
                buffer.AppendRaw(piece.Span);
                if (transferDecoder is not null)
                {
                    transferDecoder.Decode(piece, afterTransfer);
                }
                else
                {
                    afterTransfer(piece);
                }
            }

            transferDecoder?.Finish(afterTransfer);
            contentDecoder?.Finish(keep);
            return buffer.ToArray();
        }
    }

    private static byte[] DecodeAll(string codings, byte[] encoded, int pieceSize)
    {
        Assert.That(ContentDecoder.TryCreate(codings, out ContentDecoder? decoder, out _), Is.True);
        using (decoder)
        {
            var output = new MemoryStream();
            Action<ReadOnlyMemory<byte>> sink = piece => output.Write(piece.Span);
            for (int i = 0; i < encoded.Length; i += Math.Max(1, pieceSize))
            {
                decoder!.Decode(encoded.AsMemory(i, Math.Min(pieceSize, encoded.Length - i)), sink);
            }

            decoder!.Finish(sink);
            return output.ToArray();
        }
    }

    private static byte[] MakeText(int length)
    {
        var random = new Random(1);
        byte[] text = new byte[length];
        for (int i = 0; i < length; i++)
        {
            // Compressible but not trivially so.
            text[i] = (byte)('a' + (random.Next(0, 4) == 0 ? random.Next(0, 26) : i % 7));
        }

        return text;
    }

    private static byte[] Gzip(byte[] data) => Compress(data, s => new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true));

    private static byte[] ZLib(byte[] data) => Compress(data, s => new ZLibStream(s, CompressionLevel.Optimal, leaveOpen: true));

    private static byte[] Deflate(byte[] data) => Compress(data, s => new DeflateStream(s, CompressionLevel.Optimal, leaveOpen: true));

    private static byte[] Brotli(byte[] data) => Compress(data, s => new BrotliStream(s, CompressionLevel.Optimal, leaveOpen: true));

    private static byte[] Compress(byte[] data, Func<Stream, Stream> create)
    {
        var output = new MemoryStream();
        using (Stream compressor = create(output))
        {
            compressor.Write(data);
        }

        return output.ToArray();
    }
}
