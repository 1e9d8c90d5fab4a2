using System.Buffers;
using System.Text;

namespace Loop.Http.Simple;

/// <summary>A parsed status line and header block.</summary>
internal sealed class ResponseHead
{
    public string Version { get; private set; } = "HTTP/1.1";

    public int Code { get; private set; }

    public string Reason { get; private set; } = string.Empty;

    public HttpHeaders Headers { get; } = new();

    /// <summary>The status line and header lines as received (each with CRLF), for a header callback.</summary>
    public List<string>? RawLines { get; private set; }

    /// <summary>
    /// Finds the end of a header block in <paramref name="buffer"/> (an empty line ending in LF;
    /// empty lines before the status line are skipped, RFC 9112 §2.2). Returns the length of the
    /// block including its end, or -1 if it is not complete yet.
    /// </summary>
    public static long FindEnd(in ReadOnlySequence<byte> buffer, out long skipped)
    {
        var reader = new SequenceReader<byte>(buffer);
        skipped = 0;
        while (reader.TryPeek(out byte b) && b is (byte)'\r' or (byte)'\n')
        {
            reader.Advance(1);
            skipped++;
        }

        while (reader.TryAdvanceTo((byte)'\n'))
        {
            if (reader.TryPeek(out byte next))
            {
                if (next == (byte)'\n')
                {
                    return reader.Consumed + 1;
                }

                if (next == (byte)'\r' && reader.TryPeek(1, out byte after) && after == (byte)'\n')
                {
                    return reader.Consumed + 2;
                }
            }
        }

        return -1;
    }

    /// <summary>Parses a complete block (status line, fields, and the empty line).</summary>
    /// <exception cref="HttpProtocolError">The status line or a field is malformed.</exception>
    public static ResponseHead Parse(ReadOnlySpan<byte> block, bool keepRawLines)
    {
        var head = new ResponseHead();
        if (keepRawLines)
        {
            head.RawLines = [];
        }

        bool first = true;
        while (!block.IsEmpty)
        {
            int lf = block.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = lf < 0 ? block : block[..lf];
            block = lf < 0 ? default : block[(lf + 1)..];
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (first)
            {
                head.ParseStatusLine(line);
                head.RawLines?.Add(Encoding.Latin1.GetString(line) + "\r\n");
                first = false;
                continue;
            }

            if (line.IsEmpty)
            {
                break;
            }

            head.RawLines?.Add(Encoding.Latin1.GetString(line) + "\r\n");
            head.ParseField(line);
        }

        head.RawLines?.Add("\r\n");
        return head;
    }

    private void ParseStatusLine(ReadOnlySpan<byte> line)
    {
        // HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4), leniently: the reason may be missing.
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || !char.IsAsciiDigit((char)line[7]) || line[8] != (byte)' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11])
            || (line.Length > 12 && line[12] != (byte)' '))
        {
            throw new HttpProtocolError($"Malformed HTTP response start line: {Printable(line)}");
        }

        Version = line[7] == (byte)'0' ? "HTTP/1.0" : "HTTP/1.1";
        Code = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        Reason = line.Length > 13 ? Encoding.Latin1.GetString(line[13..]) : HttpStatus.ReasonFor(Code);
    }

    private void ParseField(ReadOnlySpan<byte> line)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            // obs-fold: a continuation of the previous value (RFC 9112 §5.2), joined with a space.
            if (Headers.Count == 0)
            {
                throw new HttpProtocolError($"Malformed HTTP headers: continuation line before any field: {Printable(line)}");
            }

            Headers.AppendToLast(Encoding.Latin1.GetString(line.Trim(" \t"u8)));
            return;
        }

        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !HttpSyntax.IsToken(line[..colon]))
        {
            throw new HttpProtocolError($"Malformed HTTP header line: {Printable(line)}");
        }

        Headers.AddParsed(Encoding.Latin1.GetString(line[..colon]), Encoding.Latin1.GetString(line[(colon + 1)..].Trim(" \t"u8)));
    }

    private static string Printable(ReadOnlySpan<byte> line)
    {
        string text = Encoding.Latin1.GetString(line.Length > 200 ? line[..200] : line);
        return text.Replace("\r", "\\r").Replace("\n", "\\n");
    }
}
