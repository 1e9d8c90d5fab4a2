namespace Loop.Tests.Hostile;

/// <summary>Stalls, resets and closes at every phase of a response, smuggling attempts, and servers that do not wait their turn.</summary>
public static partial class HostileCatalogue
{
    private static IEnumerable<HostileCase> Phases()
    {
        (string Phase, string Sent)[] phases =
        [
            ("BeforeStatusLine", string.Empty),
            ("MidStatusLine", "HTTP/1.1 20"),
            ("MidHeaders", "HTTP/1.1 200 OK\r\nContent-Le"),
            ("AfterHeaders", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
            ("MidBody", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"),
            ("MidChunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello"),
        ];
        foreach ((string phase, string sent) in phases)
        {
            string what = sent.Length == 0 ? "nothing" : $"`{sent.Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}`";
            yield return Case($"Stall_{phase}", $"sends {what}, then keeps the connection open", Send(sent, ServerEnd.Stall), TimesOut)
                with { Request = new RequestShape { Timeout = RequestShape.StallTimeout } };
            yield return Case($"Reset_{phase}", $"sends {what}, then resets", Send(sent, ServerEnd.Reset), Closed);
            yield return Case($"Close_{phase}", $"sends {what}, then closes", Send(sent, ServerEnd.Close), Closed);
        }

        yield return Case("Close_BeforeReadingTheRequest", "closes as soon as it accepts", new Reply([], ServerEnd.Close, ReadsRequest: false), Closed);
        yield return Case(
            "Order_AnswersBeforeTheRequest",
            "writes a whole response as it accepts, then reads the request",
            new Reply([new Step.Write(B(Ok2())), new Step.ReadRequest()], ServerEnd.Close, ReadsRequest: false),
            Ok("ok"));
        yield return Case(
            "Order_Early413DuringUpload",
            "answers a 16 MB upload with 413 after its head, reads no more, keeps the connection",
            new Reply([new Step.Write(B("HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!"))], ServerEnd.Stall, ReadsBody: false),
            Status(413, "too big!"))
            with { Request = new RequestShape { Method = "POST", UploadBytes = 16 * 1024 * 1024 } };
        yield return Case(
            "Order_Early413ThenResetDuringUpload",
            "answers a 16 MB upload with 413 after its head, then resets (a race RFC 9112 §9.6 warns of: the reset may reach the client before it has read the 413, and then no client can return it; libcurl stops at its failed send)",
            new Reply([new Step.Write(B("HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!"))], ServerEnd.Reset, ReadsBody: false),
            new Outcome.OneOf([Status(413, "too big!"), Closed]))
            with { Request = new RequestShape { Method = "POST", UploadBytes = 16 * 1024 * 1024 } };
    }

    private static IEnumerable<HostileCase> Smuggling()
    {
        const string Smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED";
        Reply second = Send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", ServerEnd.KeepAlive);
        Outcome secondOk = Ok("second");

        HostileCase Smuggle(string name, string does, Reply first, Outcome expected) => new(name, does, [first, second], expected) { Second = secondOk };

        yield return Smuggle(
            "Smuggle_AfterContentLengthBody",
            "a complete response with a second one appended, in one write",
            Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + Smuggled, ServerEnd.KeepAlive),
            Ok("first"));
        yield return Smuggle(
            "Smuggle_AfterChunkedBody",
            "a complete chunked response with a second one appended",
            Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n" + Smuggled, ServerEnd.KeepAlive),
            Ok("first"));
        yield return Smuggle(
            "Smuggle_BodyLongerThanContentLength",
            "`Content-Length: 5` and 20 bytes of body",
            Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstEXTRA-BYTES-HERE", ServerEnd.KeepAlive),
            Ok("first"));
        yield return Smuggle(
            "Smuggle_After204",
            "204 with a response appended (a 204 has no body)",
            Send("HTTP/1.1 204 No Content\r\n\r\n" + Smuggled, ServerEnd.KeepAlive),
            Status(204));
        yield return Smuggle(
            "Smuggle_After304",
            "304 with `Content-Length: 49` and a response appended (a 304 has no body)",
            Send($"HTTP/1.1 304 Not Modified\r\nContent-Length: {Smuggled.Length}\r\n\r\n" + Smuggled, ServerEnd.KeepAlive),
            Status(304));
        yield return Smuggle(
            "Smuggle_AfterHeadResponse",
            "HEAD answered with a body that is a whole response",
            Send($"HTTP/1.1 200 OK\r\nContent-Length: {Smuggled.Length}\r\n\r\n" + Smuggled, ServerEnd.KeepAlive),
            Ok(string.Empty)) with { Request = new RequestShape { Method = "HEAD" } };
        yield return Smuggle(
            "Smuggle_AfterResponseLate",
            "a complete response, then 20 ms later a second one on the idle connection",
            new Reply([new Step.Write(B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")), new Step.Pause(TimeSpan.FromMilliseconds(20)), new Step.Write(B(Smuggled))], ServerEnd.KeepAlive),
            Ok("first"));
        yield return Smuggle(
            "Smuggle_After100Continue",
            "100 Continue carrying a body, then the response",
            Send("HTTP/1.1 100 Continue\r\nContent-Length: 49\r\n\r\n" + Ok2() + Smuggled, ServerEnd.KeepAlive),
            Ok("ok"));
        yield return Smuggle(
            "Smuggle_KeepAliveClosedWhileIdle",
            "a keep-alive response, then the server closes the idle connection",
            Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", ServerEnd.Close),
            Ok("first"));
        yield return new HostileCase(
            "Smuggle_AfterRedirect",
            "302 with a response appended; the redirect's target is asked for on the same client",
            [Send("HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n" + Smuggled, ServerEnd.KeepAlive), Send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlanded", ServerEnd.KeepAlive)],
            Ok("landed"))
        {
            RequestLines = ["GET / ", "GET /next "],
        };
    }
}
