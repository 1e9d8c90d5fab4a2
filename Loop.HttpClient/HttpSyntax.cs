using System.Buffers;

namespace Loop.Http;

/// <summary>The bits of HTTP/1.1 syntax (RFC 9110, RFC 9112) both clients check.</summary>
internal static class HttpSyntax
{
    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static readonly SearchValues<char> s_tokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static readonly SearchValues<byte> s_tokenBytes =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // Control characters a field value may not hold (RFC 9110 §5.5): all but HTAB, and DEL.
    private static readonly SearchValues<byte> s_forbiddenValueBytes = SearchValues.Create([.. Enumerable.Range(0, 0x20).Where(b => b != '\t').Select(b => (byte)b), 0x7F]);
    private static readonly SearchValues<char> s_forbiddenValueChars = SearchValues.Create([.. Enumerable.Range(0, 0x20).Where(c => c != '\t').Select(c => (char)c), '\u007f']);

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

    /// <summary>An HTTP date (RFC 9110 §5.6.7, IMF-fixdate), for example <c>Sun, 06 Nov 1994 08:49:37 GMT</c>.</summary>
    public static string FormatDate(DateTimeOffset time) =>
        time.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss 'GMT'", System.Globalization.CultureInfo.InvariantCulture);
}
