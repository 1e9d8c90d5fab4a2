namespace Loop.Tests.Hostile;

/// <summary>What the fuzzer found (a crash or a hang), kept as cases so that it stays fixed.</summary>
public static partial class HostileCatalogue
{
    private static IEnumerable<HostileCase> Found()
    {
        // Found by the fuzzer (seed 20261129, cases 23 and 24) against the curl client, then
        // reduced: once an easy handle has carried a response, a later response on it whose
        // first field line starts with whitespace (an obs-fold with nothing to fold onto)
        // corrupts the native heap ("double free detected in tcache 2", "corrupted size vs.
        // prev_size") and the process dies. With libcurl 7.88.1 a fresh handle answers "A libcurl
        // function was given a bad argument" instead; it looks as if libcurl unfolds the line
        // onto the last field of the handle's previous response, already freed.
        yield return new HostileCase(
            "Found_FoldedFirstFieldOnAReusedHandle",
            "a valid response, then, to the next request, a folded line before any field",
            [Send(Ok2()), Send("HTTP/1.1 200 OK\r\n X: a\r\nContent-Length: 2\r\n\r\nok")],
            Ok("ok"))
        {
            Second = Protocol,
        };
        // The fuzzer's own sequence: a head that fails our checks, then the folded line.
        yield return new HostileCase(
            "Found_FoldedFirstFieldAfterAFailedHead",
            "a head with a broken status line, then, to the next request, a folded line before any field",
            [Send("HTTP/1.10 chunke\u00e4\r\n\r\na\r\nhello"), Send("HTTP/1.1 200 OK\r\n X: a\r\nContent-Length: 2\r\n\r\nok")],
            Protocol)
        {
            Second = Protocol,
        };
    }
}
