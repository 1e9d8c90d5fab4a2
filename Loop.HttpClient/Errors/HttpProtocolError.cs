using System.Text;

namespace Loop.Http;

/// <summary>
/// The response broke HTTP/1.1 (a malformed status line or header, an HTTP/0.9 reply,
/// conflicting or invalid lengths, a bad chunk, an unknown transfer coding, endless
/// informational responses): the client closed the connection at once rather than wait for the
/// timeout. Code 599. <see cref="Line"/> holds the offending line when there is one.
/// </summary>
public sealed class HttpProtocolError : HttpStreamClosedError
{
    /// <summary>The most of an offending line that <see cref="Line"/> keeps, in characters.</summary>
    public const int MaxLineLength = 200;

    /// <summary>Creates the error with a message saying what was wrong.</summary>
    /// <param name="message">What the server did wrong.</param>
    /// <param name="line">The offending line (or field) as received; kept truncated to <see cref="MaxLineLength"/> characters, control characters escaped.</param>
    public HttpProtocolError(string message, string? line = null)
        : base(message)
    {
        Line = line is null ? null : Printable(line);
    }

    /// <summary>
    /// The offending line or field as received, at most <see cref="MaxLineLength"/> characters
    /// (an ellipsis marks a cut), control characters written as <c>\r</c>, <c>\n</c>, <c>\t</c>
    /// or <c>\xNN</c>; null when the error is not about one line.
    /// </summary>
    public string? Line { get; }

    /// <summary>A received line made safe to print: control characters escaped, cut to <see cref="MaxLineLength"/>.</summary>
    internal static string Printable(ReadOnlySpan<char> line)
    {
        var text = new StringBuilder(Math.Min(line.Length, MaxLineLength) + 3);
        foreach (char c in line)
        {
            if (text.Length >= MaxLineLength)
            {
                text.Append('…');
                break;
            }

            switch (c)
            {
                case '\r':
                    text.Append("\\r");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                case < ' ' or '\x7f':
                    text.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }

        return text.ToString();
    }

    /// <summary>Received bytes made safe to print (ISO-8859-1, as header bytes are read).</summary>
    internal static string Printable(ReadOnlySpan<byte> line) =>
        Printable(Encoding.Latin1.GetString(line.Length > MaxLineLength + 1 ? line[..(MaxLineLength + 1)] : line));
}
