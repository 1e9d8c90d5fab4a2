namespace Loop.Tests.Hostile;

/// <summary>Body framing: Content-Length, Transfer-Encoding and chunking.</summary>
public static partial class HostileCatalogue
{
    /// <summary>16 KiB of chunk (size line, data, CRLF): sent forever, it is an endless chunked body.</summary>
    private static readonly byte[] s_chunk16K = [.. B("4000\r\n"), .. new byte[16 * 1024], .. B("\r\n")];

    private static readonly byte[] s_zeros16K = new byte[16 * 1024];

    private static IEnumerable<HostileCase> Framing()
    {
        static string Cl(string value, string body = "ok") => $"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n{body}";

        yield return Case("ContentLength_TwoUnequal", "`Content-Length: 2` and `Content-Length: 3`", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", Protocol);
        yield return Case("ContentLength_TwoEqual", "`Content-Length: 2` twice (RFC 9110 §8.6 allows)", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", Ok("ok"));
        yield return Case("ContentLength_ListUnequal", "`Content-Length: 2, 3`", Cl("2, 3", "ok!"), Protocol);
        yield return Case("ContentLength_ListEqual", "`Content-Length: 2, 2`", Cl("2, 2"), Ok("ok"));
        yield return Case("ContentLength_TenToThe26", "`Content-Length: 10^26` (no 64-bit integer)", Cl("100000000000000000000000000"), Protocol);
        yield return Case("ContentLength_Negative", "`Content-Length: -1`", Cl("-1"), Protocol);
        yield return Case("ContentLength_NotDigits", "`Content-Length: abc`", Cl("abc"), Protocol);
        yield return Case("ContentLength_Plus", "`Content-Length: +2`", Cl("+2"), Protocol);
        yield return Case("ContentLength_Hex", "`Content-Length: 0x2`", Cl("0x2"), Protocol);
        yield return Case("ContentLength_Empty", "`Content-Length: ` (no value)", Cl(string.Empty), Protocol);
        yield return Case("ContentLength_LeadingZeros", "`Content-Length: 0002`", Cl("0002"), Ok("ok"));
        yield return Case("ContentLength_OverMaxBodySize", "`Content-Length: 10485760` (MaxBodySize is 1 MiB), then zeros", Endless("HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n", s_zeros16K), TooLarge);
        yield return Case("ContentLength_Zero", "`Content-Length: 0`, then close", Cl("0", string.Empty), Ok(string.Empty));
        yield return Case("TransferEncoding_WithContentLength", "`Transfer-Encoding: chunked` and `Content-Length: 2`", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("TransferEncoding_Unknown", "`Transfer-Encoding: foo`", "HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\nok", Protocol);
        yield return Case(
            "TransferEncoding_GzipThenChunked",
            "`Transfer-Encoding: gzip, chunked`, a gzip body in chunks (apply or refuse every coding)",
            Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Chunked(Gzip(s_text))),
            new Outcome.OneOf([Ok(s_text), Protocol]));
        yield return Case("TransferEncoding_ChunkedNotLast", "`Transfer-Encoding: chunked, gzip`", Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Chunked(Gzip(s_text))), Protocol);
        yield return Case("TransferEncoding_ChunkedTwice", "two `Transfer-Encoding: chunked` fields (chunked applied twice)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("TransferEncoding_Uppercase", "`Transfer-Encoding: CHUNKED` (codings are case-insensitive)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\nok\r\n0\r\n\r\n", Ok("ok"));
        yield return Case("Body_ShorterThanContentLengthThenClose", "`Content-Length: 10`, 5 bytes, close", Cl("10", "hello"), Closed);
        yield return Case("Body_ShorterThanContentLengthThenReset", "`Content-Length: 10`, 5 bytes, reset", Send(Cl("10", "hello"), ServerEnd.Reset), Closed);
        yield return Case("Body_UntilCloseOverMaxBodySize", "no length, zeros until the client leaves", Endless("HTTP/1.1 200 OK\r\n\r\n", s_zeros16K), TooLarge);
        yield return Case("Body_UntilCloseThenReset", "no length, a body, then a reset", Send("HTTP/1.1 200 OK\r\n\r\nsome body", ServerEnd.Reset), Closed);
        yield return Case("Head_ContentLengthWithoutBody", "HEAD answered with `Content-Length: 100` and no body, kept open", Send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", ServerEnd.KeepAlive), Ok(string.Empty))
            with { Request = new RequestShape { Method = "HEAD" } };
    }

    private static IEnumerable<HostileCase> Chunking()
    {
        const string Head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

        yield return Case("Chunk_SizeNotHex", "chunk size `zz`", Head + "zz\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_SizeOverflow", "chunk size of 22 hex digits", Head + "FFFFFFFFFFFFFFFFFFFFFF\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_SizeNegative", "chunk size `-2`", Head + "-2\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_SizeHexPrefix", "chunk size `0x2`", Head + "0x2\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_SizeEmpty", "an empty chunk-size line", Head + "\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_SizeLeadingSpace", "chunk size ` 2`", Head + " 2\r\nok\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_DataNotFollowedByCrLf", "chunk data longer than its size, no CRLF after it", Head + "2\r\nokXX\r\n0\r\n\r\n", Protocol);
        yield return Case("Chunk_Extension", "`2;name=value` (extensions are ignored)", Head + "2;name=value\r\nok\r\n0\r\n\r\n", Ok("ok"));
        yield return Case("Chunk_QuotedExtension", "`2;a=\"b;c\"`", Head + "2;a=\"b;c\"\r\nok\r\n0\r\n\r\n", Ok("ok"));
        yield return Case("Chunk_LineOf100KB", "a chunk-size line with a 100 KB extension (the simple client refuses a chunk line over 4 KB; libcurl skips extensions of any length, and curl bounds only framing past MaxBodySize)", Head + "2;" + new string('x', 100 * 1024) + "\r\nok\r\n0\r\n\r\n", new Outcome.OneOf([Ok("ok"), Protocol]));
        yield return Case("Chunk_Trailers", "a valid trailer field", Head + "2\r\nok\r\n0\r\nX-Trailer: yes\r\n\r\n", Ok("ok"));
        yield return Case("Chunk_TrailersTooLarge", "100 KB of trailer fields", Head + "2\r\nok\r\n0\r\n" + string.Concat(Enumerable.Range(0, 100).Select(i => $"X-T{i}: {new string('t', 1000)}\r\n")) + "\r\n", Protocol);
        yield return Case("Chunk_EndlessPastMaxBodySize", "16 KB chunks forever", Endless(Head, s_chunk16K), TooLarge);
        yield return Case("Chunk_HugeSizeThenEndlessData", "chunk size 0x7FFFFFFFFFFFFFF, then zeros forever", Endless(Head + "7FFFFFFFFFFFFFF\r\n", s_zeros16K), TooLarge);
        yield return Case("Chunk_TruncatedData", "`5\\r\\nhel`, close", Head + "5\r\nhel", Closed);
        yield return Case("Chunk_NoLastChunk", "one chunk, no last chunk, close", Head + "2\r\nok\r\n", Closed);
        yield return Case("Chunk_NoFinalCrLf", "the last chunk without the empty line after it, close", Head + "2\r\nok\r\n0\r\n", Closed);
        yield return Case("Chunk_ManyTinyChunks", "1,000 one-byte chunks", Head + string.Concat(Enumerable.Repeat("1\r\nx\r\n", 1000)) + "0\r\n\r\n", Ok(new string('x', 1000)));
    }

    /// <summary>The body in chunked framing: chunks of at most 1000 bytes, then the last chunk.</summary>
    private static byte[] Chunked(byte[] body)
    {
        var wire = new List<byte>();
        for (int offset = 0; offset < body.Length; offset += 1000)
        {
            int n = Math.Min(1000, body.Length - offset);
            wire.AddRange(B($"{n:x}\r\n"));
            wire.AddRange(body.AsSpan(offset, n));
            wire.AddRange(B("\r\n"));
        }

        wire.AddRange(B("0\r\n\r\n"));
        return [.. wire];
    }
}
