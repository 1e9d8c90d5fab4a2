using System.Buffers;
using System.Text;

namespace Loop.Http.Simple;

/// <summary>
/// A parsed status line and header block. One lives with each connection and is refilled for
/// each response: header names servers commonly send, and values equal to those received in the
/// same place last time (a server's fixed headers, the Date within a second), come from strings
/// already made, so a steady stream of similar responses parses without allocating anything but
/// the header collection each response owns (whose storage is shared with the previous
/// response's when all the fields are the same). What was received last time is a
/// <see cref="FieldMemory"/> that the connections of a client share, so a new connection's
/// first response (every response, with <c>Connection: close</c>) profits from it too.
/// </summary>
internal sealed class ResponseHead
{
    private static readonly string[] s_commonNames = MakeCommonNames(
        "Date", "Server", "Content-Type", "Content-Length", "Connection", "Transfer-Encoding", "Content-Encoding",
        "Location", "Cache-Control", "Set-Cookie", "ETag", "Last-Modified", "Expires", "Vary", "Accept-Ranges",
        "Keep-Alive", "Age", "Via", "Pragma", "Content-Language", "Content-Disposition", "Content-Range",
        "Access-Control-Allow-Origin", "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
        "Alt-Svc", "WWW-Authenticate", "Proxy-Authenticate", "Retry-After", "Allow", "Trailer", "Upgrade", "Link",
        "X-Powered-By", "Proxy-Connection");

    // The fields of the previous response, by position: reused when the same bytes come again.
    private const int RememberedFields = 24;

    // Lines up to this long are kept as they came, to reuse both strings without parsing again.
    private const int RememberedLineLength = 256;

    private readonly FieldMemory _memory;

    // The fields of the response being parsed (reused), made as large as the last response
    // needed: a new connection's first response does not grow it step by step.
    private readonly HttpHeaders _parsing;

    /// <summary>A head that remembers what it parsed in <paramref name="memory"/> (shared with other heads), or in its own.</summary>
    public ResponseHead(FieldMemory? memory = null)
    {
        _memory = memory ?? new FieldMemory();
        _parsing = new HttpHeaders(_memory.LastFieldCount);
    }

    public string Version { get; private set; } = "HTTP/1.1";

    public int Code { get; private set; }

    public string Reason { get; private set; } = string.Empty;

    /// <summary>
    /// The fields of the response last parsed, in this object's own collection: valid until the
    /// next <see cref="Parse"/>. A response gets <see cref="PublishFields"/>.
    /// </summary>
    public HttpHeaders Headers => _parsing;

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

    /// <summary>Parses a complete header block (status line, fields, and the empty line, as <see cref="FindEnd"/> delimits it) into this.</summary>
    /// <exception cref="HttpProtocolError">The status line or a field is malformed (<see cref="HttpProtocolError.Line"/> holds it).</exception>
    public void Parse(ReadOnlySpan<byte> block, bool keepRawLines)
    {
        RawLines = keepRawLines ? [] : null;
        _memory.Parsed++;

        _parsing.Clear();
        int field = 0;
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
                ParseStatusLine(line);
                RawLines?.Add(Encoding.Latin1.GetString(line) + "\r\n");
                first = false;
                continue;
            }

            if (line.IsEmpty)
            {
                break;
            }

            RawLines?.Add(Encoding.Latin1.GetString(line) + "\r\n");
            ParseField(line, ref field);
        }

        RawLines?.Add("\r\n");
        _memory.LastFieldCount = _parsing.Count;
    }

    /// <summary>
    /// The fields of the response last parsed (as <see cref="Headers"/> holds them now) for the
    /// response to keep: the previous response's array, shared copy-on-write, when every field
    /// came again as it was (a server's fixed headers, the Date within a second), else a new one.
    /// </summary>
    public KeyValuePair<string, string>[] PublishFields() => _parsing.Publish(ref _memory.Published);

    private void ParseStatusLine(ReadOnlySpan<byte> line)
    {
        // HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4), leniently: the reason may be missing.
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || !char.IsAsciiDigit((char)line[7]) || line[8] != (byte)' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11])
            || (line.Length > 12 && line[12] != (byte)' '))
        {
            throw new HttpProtocolError($"Malformed HTTP response start line: {Printable(line)}", Raw(line));
        }

        Version = line[7] == (byte)'0' ? "HTTP/1.0" : "HTTP/1.1";
        Code = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        if (Code is < 100 or > 599)
        {
            // RFC 9110 §15: every valid status code is within 100 to 599.
            throw new HttpProtocolError($"Malformed HTTP response start line: status code {Code} is not within 100 to 599", Raw(line));
        }

        if (Code == 101)
        {
            // Neither client asks for a protocol upgrade (the request validation refuses an
            // Upgrade field), so a switch is never an answer to anything we sent (RFC 9110 §15.2.2).
            throw new HttpProtocolError("The server switched protocols (101) without being asked to upgrade", Raw(line));
        }

        if (line.Length > 13 && HttpSyntax.HasForbiddenValueByte(line[13..]))
        {
            throw new HttpProtocolError($"Malformed HTTP response start line (control character in the reason): {Printable(line)}", Raw(line));
        }

        string standard = HttpStatus.ReasonFor(Code);
        if (line.Length <= 13 || HttpSyntax.Latin1Equals(line[13..], standard))
        {
            Reason = standard;
        }
        else
        {
            Reason = _memory.Reason is { } last && HttpSyntax.Latin1Equals(line[13..], last) ? last : Encoding.Latin1.GetString(line[13..]);
            _memory.Reason = Reason;
        }
    }

    private void ParseField(ReadOnlySpan<byte> line, ref int field)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            // obs-fold: a continuation of the previous value (RFC 9112 §5.2), joined with a space.
            if (_parsing.Count == 0)
            {
                throw new HttpProtocolError($"Malformed HTTP headers: continuation line before any field: {Printable(line)}", Raw(line));
            }

            if (HttpSyntax.HasForbiddenValueByte(line.Trim(" \t"u8)))
            {
                throw new HttpProtocolError($"Malformed HTTP header line (control character in the value): {Printable(line)}", Raw(line));
            }

            _parsing.AppendToLast(Encoding.Latin1.GetString(line.Trim(" \t"u8)));
            return;
        }

        Remembered[] remembered = _memory.Fields;
        if (field < remembered.Length && remembered[field].Line is { } lastLine && remembered[field].LineLength == line.Length && line.SequenceEqual(lastLine.AsSpan(0, line.Length)))
        {
            // The very line the previous response had here (most of a server's fields do not
            // change between responses): it was checked then, and its strings are kept.
            _parsing.AddParsed(remembered[field].Name!, remembered[field].Value!);
            field++;
            return;
        }

        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !HttpSyntax.IsToken(line[..colon]))
        {
            throw new HttpProtocolError($"Malformed HTTP header line: {Printable(line)}", Raw(line));
        }

        ReadOnlySpan<byte> nameBytes = line[..colon];
        ReadOnlySpan<byte> valueBytes = line[(colon + 1)..].Trim(" \t"u8);
        if (HttpSyntax.HasForbiddenValueByte(valueBytes))
        {
            // A control character (a bare CR among them) could split or smuggle a field.
            throw new HttpProtocolError($"Malformed HTTP header line (control character in the value): {Printable(line)}", Raw(line));
        }

        string name;
        string value;
        if (field < RememberedFields)
        {
            if (field >= remembered.Length)
            {
                Array.Resize(ref _memory.Fields, Math.Min(RememberedFields, Math.Max(8, remembered.Length * 2)));
            }

            ref Remembered last = ref _memory.Fields[field];
            name = last.Name is not null && HttpSyntax.Latin1Equals(nameBytes, last.Name) ? last.Name : CommonName(nameBytes) ?? Encoding.Latin1.GetString(nameBytes);
            value = last.Value is not null && ReferenceEquals(name, last.Name) && HttpSyntax.Latin1Equals(valueBytes, last.Value) ? last.Value : Encoding.Latin1.GetString(valueBytes);
            last.Name = name;
            last.Value = value;
            if (_memory.Parsed > 1 && line.Length <= RememberedLineLength)
            {
                if (last.Line is not { } kept || kept.Length < line.Length)
                {
                    // Room for this line and a little more (a Date of another day, say).
                    last.Line = kept = new byte[(line.Length + 16 + 15) & ~15];
                }

                line.CopyTo(kept);
                last.LineLength = line.Length;
            }
            else
            {
                last.LineLength = -1;
            }
        }
        else
        {
            name = CommonName(nameBytes) ?? Encoding.Latin1.GetString(nameBytes);
            value = Encoding.Latin1.GetString(valueBytes);
        }

        field++;
        _parsing.AddParsed(name, value);
    }

    private static string[] MakeCommonNames(params string[] names) =>
        [.. names, .. names.Select(name => name.ToLowerInvariant())];

    /// <summary>The string of a commonly sent header name spelt exactly as <paramref name="name"/>, or null.</summary>
    private static string? CommonName(ReadOnlySpan<byte> name)
    {
        foreach (string common in s_commonNames)
        {
            if (common.Length == name.Length && HttpSyntax.Latin1Equals(name, common))
            {
                return common;
            }
        }

        return null;
    }

    /// <summary>An offending line for <see cref="HttpProtocolError.Line"/> (which escapes and cuts it).</summary>
    private static string Raw(ReadOnlySpan<byte> line) => Encoding.Latin1.GetString(line.Length > HttpProtocolError.MaxLineLength + 1 ? line[..(HttpProtocolError.MaxLineLength + 1)] : line);

    private static string Printable(ReadOnlySpan<byte> line)
    {
        string text = Encoding.Latin1.GetString(line.Length > 200 ? line[..200] : line);
        return text.Replace("\r", "\\r").Replace("\n", "\\n");
    }

    /// <summary>
    /// What the heads sharing it parsed last: the fields by position, the last unusual reason
    /// phrase, and the fields array the last response was given (which the next one shares when
    /// all its fields are the same strings). A client's connections share one; each parse runs
    /// to its end on the loop thread before another begins.
    /// </summary>
    internal sealed class FieldMemory
    {
        // Grows to the number of fields the server sends (at most RememberedFields).
        internal Remembered[] Fields = [];

        // Responses parsed: the first one's lines are not kept (a client that fetches once
        // would only pay for them).
        internal int Parsed;
        internal string? Reason;
        internal KeyValuePair<string, string>[]? Published;
        internal int LastFieldCount;
    }

    /// <summary>A field as the previous response had it at the same place.</summary>
    internal struct Remembered
    {
        public string? Name;
        public string? Value;
        public byte[]? Line;
        public int LineLength;
    }
}
