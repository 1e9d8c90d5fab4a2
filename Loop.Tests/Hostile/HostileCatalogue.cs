using System.Globalization;
using System.Text;
using Loop.Http;

namespace Loop.Tests.Hostile;

/// <summary>
/// Byte-exact hostile responses, as data, each with the outcome both clients must give
/// (issue 12). The expected outcomes follow the error model and the issue, not what a client
/// happens to do today: a protocol violation is an <see cref="HttpProtocolError"/>, a connection
/// that ends early an <see cref="HttpStreamClosedError"/>, a body over MaxBodySize (declared,
/// chunked, until close, decompressed or a redirect's) an <see cref="HttpBodyTooLargeError"/>, a
/// compressed body that is corrupt or stops short an <see cref="HttpContentDecodingError"/>, and
/// a server that stalls an <see cref="HttpTimeoutError"/> of the request phase.
/// </summary>
public static partial class HostileCatalogue
{
    private static readonly Lazy<IReadOnlyList<HostileCase>> s_all = new(() =>
    {
        HostileCase[] all = [.. StatusLines(), .. Headers(), .. Framing(), .. Chunking(), .. Codings(), .. Informational(), .. Redirects(), .. Phases(), .. Smuggling(), .. Found()];
        string? duplicate = all.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1)?.Key;
        return duplicate is null ? all : throw new InvalidOperationException($"Two catalogue cases are named {duplicate}");
    });

    /// <summary>Every case, in the catalogue's order.</summary>
    public static IReadOnlyList<HostileCase> All => s_all.Value;

    /// <summary>The cases as NUnit test cases, named after the case.</summary>
    public static IEnumerable<TestCaseData> TestCases() => All.Select(c => new TestCaseData(c).SetArgDisplayNames(c.Name));

    /// <summary>The catalogue as the Markdown table of docs/reliability.md.</summary>
    public static string MarkdownTable()
    {
        var table = new StringBuilder("| Case | What the server does | Expected outcome |\n|---|---|---|\n");
        foreach (HostileCase hostile in All)
        {
            string expected = hostile.Expected.Describe();
            if (hostile.Second is { } second)
            {
                expected += $"; then a second GET on the same client: {second.Describe()}";
            }

            table.Append(CultureInfo.InvariantCulture, $"| {hostile.Name} | {Cell(hostile.ServerDoes)} | {Cell(expected)} |\n");
        }

        return table.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    private static Outcome Protocol { get; } = new Outcome.Failure(typeof(HttpProtocolError));

    private static Outcome Closed { get; } = new Outcome.Failure(typeof(HttpStreamClosedError));

    private static Outcome TooLarge { get; } = new Outcome.Failure(typeof(HttpBodyTooLargeError));

    private static Outcome Decoding { get; } = new Outcome.Failure(typeof(HttpContentDecodingError));

    private static Outcome TimesOut { get; } = new Outcome.Failure(typeof(HttpTimeoutError), Phase: HttpTimeoutPhase.Request);

    /// <summary>Latin-1: one byte per char, so "\0" or "\u00e9" is that byte.</summary>
    internal static byte[] B(string text) => Encoding.Latin1.GetBytes(text);

    private static Outcome Ok(string body) => new Outcome.Response(200, B(body));

    private static Outcome Ok(byte[] body) => new Outcome.Response(200, body);

    private static Outcome Status(int code, string body = "") => new Outcome.Response(code, B(body));

    private static Reply Send(string text, ServerEnd end = ServerEnd.Close) => new([new Step.Write(B(text))], end);

    private static Reply Send(byte[] bytes, ServerEnd end = ServerEnd.Close) => new([new Step.Write(bytes)], end);

    /// <summary>A head then a body, in one write.</summary>
    private static Reply Send(string head, byte[] body, ServerEnd end = ServerEnd.Close) => Send([.. B(head), .. body], end);

    /// <summary>These bytes, then the repeated bytes until the client goes away.</summary>
    private static Reply Endless(string first, byte[] repeated) => new([new Step.Write(B(first)), new Step.WriteForever(repeated)], ServerEnd.Close);

    private static HostileCase Case(string name, string does, Reply reply, Outcome expected) => new(name, does, [reply], expected);

    private static HostileCase Case(string name, string does, string response, Outcome expected) => new(name, does, [Send(response)], expected);

    private static string Ok2(string head = "HTTP/1.1 200 OK") => $"{head}\r\nContent-Length: 2\r\n\r\nok";

    private static IEnumerable<HostileCase> StatusLines()
    {
        yield return Case("StatusLine_Missing", "headers and a body with no status line, then close", "Content-Length: 2\r\n\r\nok", Protocol);
        yield return Case("StatusLine_Http09", "an HTTP/0.9 reply (just a body), then close", "<html>hello</html>\n", Protocol);
        yield return Case("StatusLine_Http09KeptOpen", "an HTTP/0.9 reply, connection kept open", Send("<html>hello</html>\n", ServerEnd.Stall), Protocol)
            with { Request = new RequestShape { Timeout = RequestShape.StallTimeout } };
        yield return Case("StatusLine_Http2OnHttp11", "`HTTP/2 200` on an HTTP/1.1 connection", Ok2("HTTP/2 200"), Protocol);
        yield return Case("StatusLine_Http20", "`HTTP/2.0 200 OK`", Ok2("HTTP/2.0 200 OK"), Protocol);
        yield return Case("StatusLine_Http30", "`HTTP/3.0 200 OK`", Ok2("HTTP/3.0 200 OK"), Protocol);
        yield return Case("StatusLine_VersionJunk", "`HTTP/1.1x 200 OK`", Ok2("HTTP/1.1x 200 OK"), Protocol);
        yield return Case("StatusLine_NotHttp", "`HTTX/1.1 200 OK`", Ok2("HTTX/1.1 200 OK"), Protocol);
        yield return Case("StatusLine_NoSpaceAfterVersion", "`HTTP/1.1200 OK`", Ok2("HTTP/1.1200 OK"), Protocol);
        yield return Case("StatusLine_CodeFourDigits", "`HTTP/1.1 2000 OK`", Ok2("HTTP/1.1 2000 OK"), Protocol);
        yield return Case("StatusLine_CodeTwoDigits", "`HTTP/1.1 20 OK`", Ok2("HTTP/1.1 20 OK"), Protocol);
        yield return Case("StatusLine_CodeNotDigits", "`HTTP/1.1 abc OK`", Ok2("HTTP/1.1 abc OK"), Protocol);
        yield return Case("StatusLine_CodeOverflow", "`HTTP/1.1 2147483648 OK`", Ok2("HTTP/1.1 2147483648 OK"), Protocol);
        yield return Case("StatusLine_VersionOverflow", "`HTTP/2147483648.1 200 OK` (found by the fuzzer, seed 1 case 388)", Ok2("HTTP/2147483648.1 200 OK"), Protocol);
        yield return Case("StatusLine_CodeZero", "`HTTP/1.1 000 Zero` (codes are 100 to 599)", Ok2("HTTP/1.1 000 Zero"), Protocol);
        yield return Case("StatusLine_Code600", "`HTTP/1.1 600 Beyond` (found by the fuzzer, seed 1 of 20,000: curl returned it)", Ok2("HTTP/1.1 600 Beyond"), Protocol);
        yield return Case("StatusLine_Huge", "a 100 KB reason phrase (MaxHeaderSize is 64 KB)", Ok2("HTTP/1.1 200 " + new string('A', 100 * 1024)), Protocol);
        yield return Case("StatusLine_NulInReason", "a NUL in the reason phrase", Ok2("HTTP/1.1 200 O\0K"), Protocol);
        yield return Case("StatusLine_NulInCode", "a NUL in the status code", Ok2("HTTP/1.1 2\u00000 OK"), Protocol);
        yield return Case("StatusLine_Junk", "a line of junk, then an empty line", "garbage garbage garbage\r\n\r\n", Protocol);
        yield return Case("StatusLine_TlsAlert", "a TLS alert record (a TLS server on the port)", Send([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]), Protocol);
        yield return Case("StatusLine_BareLf", "status line and fields ended by bare LF (RFC 9112 §2.2 allows)", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", Ok("ok"));
        yield return Case("StatusLine_NoReason", "`HTTP/1.1 200` without the space and reason", Ok2("HTTP/1.1 200"), Ok("ok"));
        yield return Case("StatusLine_EmptyReason", "`HTTP/1.1 200 ` (empty reason)", Ok2("HTTP/1.1 200 "), Ok("ok"));
        yield return Case("StatusLine_ObsTextReason", "a reason phrase with Latin-1 obs-text", Ok2("HTTP/1.1 200 Tr\u00e8s bien"), Ok("ok"));
        yield return Case("StatusLine_Http10UntilClose", "HTTP/1.0, no length, body until close", "HTTP/1.0 200 OK\r\n\r\nbody until close", Ok("body until close"));
        yield return new HostileCase(
            "StatusLine_Dribbled",
            "a valid response in 1-byte writes, 1 ms apart",
            [new Reply([.. B(Ok2()).SelectMany(b => new Step[] { new Step.Write([b]), new Step.Pause(TimeSpan.FromMilliseconds(1)) })], ServerEnd.Close)],
            Ok("ok"));
    }

    private static IEnumerable<HostileCase> Headers()
    {
        static string With(string line) => $"HTTP/1.1 200 OK\r\n{line}\r\nContent-Length: 2\r\n\r\nok";

        yield return Case("Header_NameWithSpace", "`Foo Bar: x`", With("Foo Bar: x"), Protocol);
        yield return Case("Header_SpaceBeforeColon", "`Content-Length : 2` (RFC 9112 §5.1)", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", Protocol);
        yield return Case("Header_EmptyName", "`: x`", With(": x"), Protocol);
        yield return Case("Header_NameNotAToken", "`Fo(o): x`", With("Fo(o): x"), Protocol);
        yield return Case("Header_NulInName", "a NUL in a field name", With("Fo\0o: x"), Protocol);
        yield return Case("Header_ControlCharInValue", "`X: a\\x01b`", With("X: a\u0001b"), Protocol);
        yield return Case("Header_NulInValue", "`X: a\\0b`", With("X: a\0b"), Protocol);
        yield return Case("Header_DelInValue", "`X: a\\x7fb`", With("X: a\u007fb"), Protocol);
        yield return Case("Header_BareCrInValue", "`X: a\\rY: b` (a bare CR is no line end)", With("X: a\rY: b"), Protocol);
        yield return Case("Header_ObsFold", "an obs-folded value (unfolded, RFC 9112 §5.2)", With("X-Folded: a\r\n b"), Ok("ok"));
        yield return Case("Header_WhitespaceBeforeFirstField", "` X: a` right after the status line", With(" X: a"), Protocol);
        yield return Case("Header_ObsFoldedContentLength", "`Content-Length: 2` folded onto `2`", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 2\r\n\r\nok", Protocol);
        yield return Case("Header_NoColon", "a field line without a colon", With("NoColonHere"), Protocol);
        yield return Case("Header_StatusLineAgain", "a second status line among the fields", With("HTTP/1.1 200 OK"), Protocol);
        yield return Case("Header_LineOf100KB", "one 100 KB field (MaxHeaderSize is 64 KB)", With("X-Big: " + new string('x', 100 * 1024)), Protocol);
        yield return Case("Header_TooMany", "20,000 small fields, 150 KB in all", With(string.Join("\r\n", Enumerable.Range(0, 20_000).Select(i => $"X{i % 10}: v"))), Protocol);
        yield return Case("Header_HugeTotal", "100 fields of 1 KB each", With(string.Join("\r\n", Enumerable.Range(0, 100).Select(i => $"X-{i}: {new string('v', 1000)}"))), Protocol);
        yield return Case("Header_Endless", "fields forever", Endless("HTTP/1.1 200 OK\r\n", B("X-Again: and again\r\n")), Protocol);
        yield return Case("Header_LargeButUnderTheLimit", "50 fields of 1 KB each (under 64 KB)", With(string.Join("\r\n", Enumerable.Range(0, 50).Select(i => $"X-{i}: {new string('v', 1000)}"))), Ok("ok"));
        yield return Case("Header_Latin1Value", "a field value with Latin-1 bytes", With("X-Name: Andr\u00e9"), Ok("ok"));
    }
}
