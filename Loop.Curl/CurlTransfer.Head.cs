using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Loop.Curl.Native;
using Loop.Http;
using Loop.Http.Decoding;

namespace Loop.Curl;

/// <summary>
/// The response head, line by line from curl's header callback: the status line, the fields,
/// and the rules the simple client's parser applies that libcurl does not (one Content-Length,
/// an integer; not both it and Transfer-Encoding; no folded framing field; an HTTP/1.x version on
/// an HTTP/1.x connection; at most <see cref="MaxInformational"/> 1xx responses; no 101, since
/// no request asks for an upgrade). A broken rule
/// fails the transfer with an <see cref="HttpProtocolError"/> naming the line.
/// </summary>
internal sealed partial class CurlTransfer
{
    /// <summary>The most 1xx responses before the final one; the simple client has the same cap.</summary>
    internal const int MaxInformational = 10;

    // The headers before any status line: never added to (fields come after a status line, which
    // starts a new set), so one instance serves every transfer.
    private static readonly HttpHeaders s_noHeaders = new();

    // The response as it comes: the head of the latest status line (a redirect or a 1xx starts again).
    private HttpHeaders _headers = s_noHeaders;
    private string _reason = string.Empty;
    private int _statusCode;
    private int _headerBytes;
    private HeadState _headState;
    private string? _lastFieldName;
    private int _informational;
    private string? _transferCodings;

    private enum HeadState
    {
        /// <summary>Before the first status line.</summary>
        Start,

        /// <summary>After a status line: fields until the blank line.</summary>
        Fields,

        /// <summary>After the blank line: a body, trailers, or the next response's status line (a 1xx's or a followed redirect's successor).</summary>
        Ended,
    }

    /// <summary>The head fields as a new transfer has them.</summary>
    private void ResetHead()
    {
        _headers = s_noHeaders;
        _reason = string.Empty;
        _statusCode = 0;
        _headerBytes = 0;
        _headState = HeadState.Start;
        _lastFieldName = null;
        _informational = 0;
        _transferCodings = null;
    }

    private void OnHeaderLine(ReadOnlySpan<byte> bytes)
    {
        if (_request.HeaderCallback is null && TryKnownLine(bytes))
        {
            return;
        }

        string line = Encoding.Latin1.GetString(bytes);
        _request.HeaderCallback?.Invoke(line);
        string text = line.EndsWith("\r\n", StringComparison.Ordinal) ? line[..^2] : line.TrimEnd('\n');
        if (_headState != HeadState.Fields && text.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            OnStatusLine(text);
            return;
        }

        CountHeaderBytes(bytes.Length);
        if (text.Length == 0)
        {
            if (_headState == HeadState.Fields)
            {
                OnHeadEnd();
            }

            return;
        }

        if (_headState == HeadState.Start)
        {
            throw new HttpProtocolError($"Malformed HTTP response start line: {HttpProtocolError.Printable(text)}", text);
        }

        if (_headState == HeadState.Ended)
        {
            // Trailers of a chunked body: kept with the headers, no framing meaning.
            ParseField(text);
            return;
        }

        if (text[0] is ' ' or '\t')
        {
            // obs-fold (RFC 9112 §5.2): libcurl reads a framing field's value from its first line
            // alone, so a folded one would mean one length to curl and another to us.
            if (IsFramingField(_lastFieldName))
            {
                throw new HttpProtocolError($"Folded {_lastFieldName} header: {HttpProtocolError.Printable(text)}", text);
            }

            ParseField(text);
            return;
        }

        int colon = text.IndexOf(':');
        _lastFieldName = colon > 0 ? text[..colon] : null;
        ParseField(text);
        if (IsFramingField(_lastFieldName))
        {
            CheckFraming(WithoutLineEnd(bytes));
        }
    }

    /// <summary>
    /// The common lines without a string per line: a status line the client saw last time, a
    /// blank line ending the head, and a well-formed field line, whose name and value strings are
    /// those of the field at the same place in an earlier response when the bytes are the same
    /// (a server repeats most of them). False, having changed nothing, for every other line
    /// (folds, trailers, malformed lines, a new status line), which the general path reads.
    /// </summary>
    private bool TryKnownLine(ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> line = WithoutLineEnd(bytes);
        if (_headState != HeadState.Fields)
        {
            if (_client.LastStatusLine is { } known && HttpSyntax.Latin1Equals(line, known))
            {
                OnStatusLine(known);
                return true;
            }

            return false;
        }

        if (line.IsEmpty)
        {
            CountHeaderBytes(bytes.Length);
            OnHeadEnd();
            return true;
        }

        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t')
        {
            return false;
        }

        // The simple client's rules, as HttpHeaders.ParseLine applies them: a token name, no
        // control characters in the value (a remembered string passed them before).
        ReadOnlySpan<byte> nameBytes = line[..colon];
        ReadOnlySpan<byte> valueBytes = line[(colon + 1)..].Trim(" \t"u8);
        int index = _headers.Count;
        (string? name, string? value) = _client.RememberedField(index);
        if (name is null || !HttpSyntax.Latin1Equals(nameBytes, name))
        {
            if (!HttpSyntax.IsToken(nameBytes))
            {
                return false;
            }

            name = Encoding.Latin1.GetString(nameBytes);
        }

        if (value is null || !HttpSyntax.Latin1Equals(valueBytes, value))
        {
            value = Encoding.Latin1.GetString(valueBytes);
            if (HttpSyntax.HasForbiddenValueChar(value))
            {
                return false;
            }
        }

        CountHeaderBytes(bytes.Length);
        _headers.Add(name, value);
        _client.RememberField(index, name, value);
        _lastFieldName = name;
        if (IsFramingField(name))
        {
            CheckFraming(line);
        }

        return true;
    }

    /// <summary>A header line without its CRLF (or its LFs), as the header callback gives it: the line as <c>text</c> holds it.</summary>
    private static ReadOnlySpan<byte> WithoutLineEnd(ReadOnlySpan<byte> bytes) => bytes.EndsWith("\r\n"u8) ? bytes[..^2] : bytes.TrimEnd((byte)'\n');

    private void CountHeaderBytes(int length)
    {
        _headerBytes += length;
        if (_headerBytes > _client.MaxHeaderSize)
        {
            throw new HttpProtocolError($"Response headers are larger than MaxHeaderSize ({_client.MaxHeaderSize} bytes)");
        }
    }

    private void ParseField(string text)
    {
        try
        {
            // The same rules as the simple client's parser: a token name, no control characters.
            _headers.ParseLine(text);
        }
        catch (FormatException e)
        {
            throw new HttpProtocolError($"Malformed HTTP header line: {HttpProtocolError.Printable(text)} ({e.Message})", text);
        }
    }

    private static bool IsFramingField(string? name) =>
        name is not null && (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase));

    private void OnStatusLine(string text)
    {
        // A new response (after a 1xx, or a redirect that curl follows): its head only.
        if (_fetch.Observed && _headState == HeadState.Ended && _statusCode is >= 300 and < 400)
        {
            _client.NoteRedirect(_fetch, _statusCode, _headers.TryGetValue("Location", out string? location) ? location : string.Empty);
        }

        _headState = HeadState.Fields;
        // Room for as many fields as the client's last head had: a server repeats its heads.
        int fields = Math.Min(_client.LastFieldCount, 64);
        _headers = fields > 0 ? new HttpHeaders(fields) : new HttpHeaders();
        _headerBytes = 0;
        _lastFieldName = null;
        _contentLength = -1;
        _rawBodyBytes = 0;
        _bodySeen = false;
        _bodyPrepared = false;
        _body?.Reset(_client.MaxBodySize);

        // HTTP-version SP status-code [SP reason-phrase] (RFC 9112 §4), as the simple client
        // reads it: HTTP/1.x on an HTTP/1 connection. For HTTP/2, curl writes "HTTP/2 200 "
        // itself (no reason: HTTP/2 has none); but libcurl 7.88 also accepts "HTTP/2 200" from
        // an HTTP/1 server and then reports HTTP/2 for the connection, so that line is believed
        // only in curl's own form, over TLS (the only place we let curl negotiate HTTP/2, by ALPN).
        bool http1 = text.Length >= 12 && text.StartsWith("HTTP/1.", StringComparison.Ordinal) && char.IsAsciiDigit(text[7]) && text[8] == ' ';
        bool http2 = !http1 && text.Length is 10 or 11 && text.StartsWith("HTTP/2 ", StringComparison.Ordinal) && (text.Length == 10 || text[10] == ' ')
            && IsHttps() && NegotiatedVersion() == CurlFlags.HttpVersion2;
        int codeAt = http1 ? 9 : 7;
        if ((!http1 && !http2) || text.Length < codeAt + 3
            || !char.IsAsciiDigit(text[codeAt]) || !char.IsAsciiDigit(text[codeAt + 1]) || !char.IsAsciiDigit(text[codeAt + 2])
            || (text.Length > codeAt + 3 && text[codeAt + 3] != ' '))
        {
            throw new HttpProtocolError($"Malformed HTTP response start line: {HttpProtocolError.Printable(text)}", text);
        }

        _statusCode = int.Parse(text.AsSpan(codeAt, 3), NumberStyles.None, CultureInfo.InvariantCulture);
        _reason = ReferenceEquals(text, _client.LastStatusLine) ? _client.LastReason
            : text.Length > codeAt + 4 ? text[(codeAt + 4)..] : string.Empty;
        if (_statusCode is < 100 or > 599)
        {
            // RFC 9110 §15: every valid status code is within 100 to 599 (the simple client's rule).
            throw new HttpProtocolError($"Malformed HTTP response start line: status code {_statusCode} is not within 100 to 599", text);
        }

        if (_statusCode == 101)
        {
            // Neither client asks for an upgrade (the shared validation refuses Upgrade and
            // Connection: upgrade), so a switch is not an answer to this request; libcurl 7.88
            // would wait for a response after it until the request timeout.
            throw new HttpProtocolError($"The server switched protocols (101) though the request asked for no upgrade: {HttpProtocolError.Printable(text)}", text);
        }

        if (_statusCode is >= 100 and < 200 && ++_informational > MaxInformational)
        {
            throw new HttpProtocolError($"More than {MaxInformational} informational (1xx) responses", text);
        }

        _client.RememberStatusLine(text, _reason);
    }

    /// <summary>The blank line after a head: checks what depends on the whole head, in the simple client's order.</summary>
    private void OnHeadEnd()
    {
        _headState = HeadState.Ended;
        _transferCodings = null;
        _client.LastFieldCount = _headers.Count;
        if (_statusCode < 200 || _request.Method == "HEAD" || _statusCode is 304)
        {
            return; // A 1xx (the final response follows), or a response without a body.
        }

        _headers.TryGetValue("Transfer-Encoding", out string? codings);
        if (_statusCode == 204)
        {
            if (_contentLength > 0 || codings is not null)
            {
                throw new HttpProtocolError($"Response with code {_statusCode} should not have body");
            }

            return;
        }

        if (codings is not null)
        {
            _transferCodings = CheckTransferCodings(codings);
            EnableVerbose();
            EnableProgress();
        }
        else if (_statusCode >= 300)
        {
            EnableProgress();
        }

        // A declared length over the limit fails before the body is read (redirect bodies too).
        if (_contentLength > _client.MaxBodySize)
        {
            throw new HttpBodyTooLargeError(_client.MaxBodySize, _contentLength);
        }
    }

    /// <summary>
    /// A Transfer-Encoding list, as the simple client checks it: <c>chunked</c> last and once
    /// (RFC 9112 §6.1), the codings before it known to the decoder. libcurl de-chunks and passes
    /// the other codings through (its transfer decoding is off), so they are undone here.
    /// Returns those codings (empty when there are none).
    /// </summary>
    private static string CheckTransferCodings(string codings)
    {
        string line = "Transfer-Encoding: " + codings;
        ReadOnlySpan<char> list = codings.AsSpan().TrimEnd(" \t,");
        int comma = list.LastIndexOf(',');
        if (!list[(comma + 1)..].Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase))
        {
            throw new HttpProtocolError($"Transfer-Encoding does not end with chunked: {HttpProtocolError.Printable(codings)}", line);
        }

        string before = comma < 0 ? string.Empty : list[..comma].ToString();
        foreach (Range part in before.AsSpan().Split(','))
        {
            if (before.AsSpan()[part].Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                throw new HttpProtocolError($"Transfer-Encoding applies chunked more than once: {HttpProtocolError.Printable(codings)}", line);
            }
        }

        if (!ContentDecoder.TryCreate(before, out ContentDecoder? decoder, out string? unknown))
        {
            throw new HttpProtocolError($"Unsupported Transfer-Encoding: {HttpProtocolError.Printable(unknown ?? codings)}", line);
        }

        decoder?.Dispose();
        return before;
    }

    /// <summary>A Content-Length or Transfer-Encoding field arrived: the framing must stay unambiguous (RFC 9112 §6.3).</summary>
    private void CheckFraming(ReadOnlySpan<byte> line)
    {
        long length = HttpSyntax.ContentLength(_headers, line);
        if (length >= 0 && _headers.Contains("Transfer-Encoding"))
        {
            throw new HttpProtocolError("Message with both Transfer-Encoding and Content-Length", Encoding.Latin1.GetString(line));
        }

        _contentLength = length;
    }

    /// <summary>The HTTP version curl negotiated on this transfer's connection (a CURL_HTTP_VERSION_* value; 0 when not known yet).</summary>
    private long NegotiatedVersion() =>
        LibCurl.curl_easy_getinfo_long(Handle, CurlInfo.HttpVersion, out CLong version) == 0 ? version.Value : 0;
}
