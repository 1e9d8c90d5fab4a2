using System.Buffers;
using System.Globalization;
using System.Text;

namespace Loop.Http;

/// <summary>The bits of HTTP/1.1 syntax (RFC 9110, RFC 9112) both clients check.</summary>
internal static class HttpSyntax
{
    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static readonly SearchValues<char> s_tokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static readonly SearchValues<byte> s_tokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // A Host name as CheckFraming accepts it: reg-name without sub-delims (a ',' or ';' reads as a separator to some parsers).
    private static readonly SearchValues<char> s_hostChars = SearchValues.Create("-._~%0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    // Control characters a field value may not hold (RFC 9110 §5.5): all but HTAB, and DEL.
    private static readonly SearchValues<byte> s_forbiddenValueBytes = SearchValues.Create([.. Enumerable.Range(0, 0x20).Where(b => b != '\t').Select(b => (byte)b), 0x7F]);
    private static readonly SearchValues<char> s_forbiddenValueChars = SearchValues.Create([.. Enumerable.Range(0, 0x20).Where(c => c != '\t').Select(c => (char)c), '\u007f']);

    /// <summary>
    /// Whether <paramref name="bytes"/>, read as ISO-8859-1 (each byte one character), are
    /// <paramref name="text"/>: lets a parser reuse a string it made before instead of making
    /// the same one again.
    /// </summary>
    public static bool Latin1Equals(ReadOnlySpan<byte> bytes, string text)
    {
        if (bytes.Length != text.Length)
        {
            return false;
        }

        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != text[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether a received field value holds a control character (all but HTAB are forbidden).</summary>
    public static bool HasForbiddenValueByte(ReadOnlySpan<byte> value) => value.ContainsAny(s_forbiddenValueBytes);

    /// <summary>As <see cref="HasForbiddenValueByte"/>, for text.</summary>
    public static bool HasForbiddenValueChar(ReadOnlySpan<char> value) => value.ContainsAny(s_forbiddenValueChars);

    public static bool IsToken(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept(s_tokenChars);

    public static bool IsToken(ReadOnlySpan<byte> text) => !text.IsEmpty && !text.ContainsAnyExcept(s_tokenBytes);

    /// <summary>Refuses CR, LF and NUL, which would let a value end the line and inject a header or a request (RFC 9112 §2.2).</summary>
    public static void CheckNoLineBreak(string value, string what)
    {
        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException($"CR, LF or NUL in {what} is not allowed: {value.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\0", "\\0")}");
        }
    }

    /// <summary>
    /// Refuses caller-set framing headers that disagree with the request (request smuggling, RFC
    /// 9112 §6.3, §11.2): the client owns the framing of what it sends. The rules are those
    /// documented on <see cref="HttpRequest.Headers"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A rule is broken; the message names the header and the rule.</exception>
    public static void CheckFraming(HttpRequest request)
    {
        HttpHeaders? headers = request.HeadersOrNull;
        if (headers is null)
        {
            return;
        }

        string? contentLength = null;
        string? transferEncoding = null;
        string? host = null;
        foreach (KeyValuePair<string, string> field in headers)
        {
            if (field.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = contentLength is null ? field.Value : throw Refused("Content-Length is set more than once");
            }
            else if (field.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                transferEncoding = transferEncoding is null ? field.Value : throw Refused("Transfer-Encoding is set more than once");
            }
            else if (field.Key.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                host = host is null ? field.Value : throw Refused("Host is set more than once");
            }
            else if (field.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                CheckConnection(field.Value);
            }
            else if (field.Key.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                throw Refused("Upgrade is not allowed: neither client can hand the connection over to another protocol after a 101");
            }
        }

        if (contentLength is not null)
        {
            ReadOnlySpan<char> digits = contentLength.AsSpan().Trim(" \t");
            if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9')
                || !long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long length))
            {
                throw Refused($"Content-Length must be one decimal number, not '{contentLength}'");
            }

            if (request.Body is { } body && length != body.Length)
            {
                throw Refused($"Content-Length {length} disagrees with the body of {body.Length} bytes (leave it out: the client sends the right one)");
            }

            if (request.Body is null && request.BodyProducer is null && length != 0)
            {
                throw Refused($"Content-Length {length} on a request without a body");
            }
        }

        if (transferEncoding is not null
            && (!transferEncoding.AsSpan().Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase) || request.BodyProducer is null || contentLength is not null))
        {
            throw Refused($"Transfer-Encoding '{transferEncoding}' is not allowed: the client sends 'chunked' itself for a BodyProducer without a Content-Length, and nothing else");
        }

        if (host is not null && !IsHostAndPort(host.AsSpan().Trim(" \t")))
        {
            throw Refused($"Host must be a host name or IP literal with an optional port, not '{host}'");
        }
    }

    /// <summary>A Connection value: a list of tokens, none of them a framing field (an intermediary would drop a listed field and change the framing).</summary>
    private static void CheckConnection(string value)
    {
        foreach (Range part in value.AsSpan().Split(','))
        {
            ReadOnlySpan<char> option = value.AsSpan()[part].Trim(" \t");
            if (option.IsEmpty)
            {
                continue;
            }

            if (!IsToken(option))
            {
                throw Refused($"Connection must be a list of tokens, not '{value}'");
            }

            if (option.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                throw Refused("Connection: upgrade is not allowed: neither client can hand the connection over to another protocol after a 101");
            }

            foreach (string framing in (ReadOnlySpan<string>)["Content-Length", "Transfer-Encoding", "Host"])
            {
                if (option.Equals(framing, StringComparison.OrdinalIgnoreCase))
                {
                    throw Refused($"Connection may not name {framing}: it would let an intermediary drop or change the request's framing");
                }
            }
        }
    }

    /// <summary>uri-host [ ":" port ] (RFC 9110 §7.2) without the rarely used parts that some parsers read as separators: a name of letters, digits, '-', '.', '_', '~', '%'; an IPv4 address; or an IPv6 literal in brackets.</summary>
    private static bool IsHostAndPort(ReadOnlySpan<char> value)
    {
        ReadOnlySpan<char> host = value;
        ReadOnlySpan<char> port = default;
        if (value.StartsWith('['))
        {
            int close = value.IndexOf(']');
            if (close < 0)
            {
                return false;
            }

            host = value[..(close + 1)];
            ReadOnlySpan<char> rest = value[(close + 1)..];
            if (!rest.IsEmpty)
            {
                if (rest[0] != ':')
                {
                    return false;
                }

                port = rest[1..];
                if (port.IsEmpty)
                {
                    return false;
                }
            }

            if (Uri.CheckHostName(host[1..^1].ToString()) != UriHostNameType.IPv6)
            {
                return false;
            }
        }
        else
        {
            int colon = value.IndexOf(':');
            if (colon >= 0)
            {
                host = value[..colon];
                port = value[(colon + 1)..];
                if (port.IsEmpty)
                {
                    return false;
                }
            }

            if (host.IsEmpty || host.ContainsAnyExcept(s_hostChars))
            {
                return false;
            }
        }

        return port.IsEmpty || (port.Length <= 5 && !port.ContainsAnyExceptInRange('0', '9') && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) <= 65535);
    }

    private static ArgumentException Refused(string rule) => new($"Refused request header: {rule}.", "request");

    /// <summary>
    /// A response's Content-Length (-1 if it has none): repeated equal values, in several fields or
    /// in one comma-separated list, are one value (RFC 9110 §8.6).
    /// </summary>
    /// <param name="headers">The response's fields.</param>
    /// <param name="line">The header line that brought the field, for the error; empty: the field as parsed.</param>
    /// <exception cref="HttpProtocolError">A value is not a plain decimal integer, or two values differ.</exception>
    public static long ContentLength(HttpHeaders headers, ReadOnlySpan<byte> line = default)
    {
        long length = -1;
        foreach (KeyValuePair<string, string> field in headers)
        {
            if (!HttpHeaders.SameName(field.Key, "Content-Length"))
            {
                continue;
            }

            string value = field.Value;
            if (TryParsePlainDigits(value, out long plain))
            {
                // The usual value, one plain number: what the general parse below makes of it.
                length = Agreed(length, plain, headers, field, line);
                continue;
            }

            foreach (Range part in value.AsSpan().Split(','))
            {
                ReadOnlySpan<char> digits = value.AsSpan()[part].Trim(" \t");
                if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9') || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                {
                    throw new HttpProtocolError($"Only integer Content-Length is allowed: {HttpProtocolError.Printable(value)}", Offending(field, line));
                }

                length = Agreed(length, n, headers, field, line);
            }
        }

        return length;

        // n, unless an earlier value (length, when not -1) differs from it.
        static long Agreed(long length, long n, HttpHeaders headers, KeyValuePair<string, string> field, ReadOnlySpan<byte> line) =>
            length < 0 || n == length
                ? n
                : throw new HttpProtocolError($"Multiple unequal Content-Lengths: {HttpProtocolError.Printable(string.Join(", ", headers.GetAll("Content-Length")))}", Offending(field, line));

        static string Offending(KeyValuePair<string, string> field, ReadOnlySpan<byte> line) =>
            line.IsEmpty ? $"{field.Key}: {field.Value}" : Encoding.Latin1.GetString(line);

        // 1 to 18 ASCII digits and nothing else: no list, no blanks, and no overflow possible.
        static bool TryParsePlainDigits(string value, out long n)
        {
            n = 0;
            if (value.Length is 0 or > 18)
            {
                return false;
            }

            foreach (char c in value)
            {
                uint digit = (uint)(c - '0');
                if (digit > 9)
                {
                    return false;
                }

                n = (n * 10) + digit;
            }

            return true;
        }
    }

    /// <summary>An HTTP date (RFC 9110 §5.6.7, IMF-fixdate), for example <c>Sun, 06 Nov 1994 08:49:37 GMT</c>.</summary>
    public static string FormatDate(DateTimeOffset time) =>
        time.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss 'GMT'", System.Globalization.CultureInfo.InvariantCulture);
}
