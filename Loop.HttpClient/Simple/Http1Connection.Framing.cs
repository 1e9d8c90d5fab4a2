using Loop.Http.Decoding;

namespace Loop.Http.Simple;

/// <summary>
/// How a response's body is delimited (RFC 9112 §6.3): no body, a Content-Length, chunked, or
/// until close; conflicting or invalid lengths and transfer codings are protocol errors.
/// </summary>
internal sealed partial class Http1Connection
{
    /// <summary>How the body of a response is delimited (RFC 9112 §6.3).</summary>
    private enum BodyFraming
    {
        /// <summary>No body: a HEAD, a 1xx, 204 or 304.</summary>
        None,

        /// <summary>Exactly Content-Length bytes.</summary>
        Length,

        /// <summary>Chunked, the final transfer coding; those before it are undone after de-chunking.</summary>
        Chunked,

        /// <summary>No framing: the body runs until the server closes the connection.</summary>
        UntilClose,
    }

    /// <summary>
    /// How the body is framed (RFC 9112 §6.3), and its transfer codings checked: every coding is
    /// undone or the response refused, never one ignored. The codings before <c>chunked</c> are
    /// undone after de-chunking when the body is kept (<paramref name="keep"/>).
    /// </summary>
    private BodyFraming ChooseFraming(int code, HttpHeaders headers, long contentLength, bool keep)
    {
        headers.TryGetValue("Transfer-Encoding", out string? codings);
        if (codings is not null && contentLength >= 0)
        {
            throw new HttpProtocolError("Message with both Transfer-Encoding and Content-Length", $"Transfer-Encoding: {codings}");
        }

        if (_request.Method == "HEAD" || code is 304 or 101)
        {
            return BodyFraming.None;
        }

        if (code == 204)
        {
            if (contentLength > 0 || codings is not null)
            {
                throw new HttpProtocolError($"Response with code {code} should not have body");
            }

            return BodyFraming.None;
        }

        if (codings is not null)
        {
            CheckTransferCodings(codings, keep);
            return BodyFraming.Chunked;
        }

        if (contentLength >= 0)
        {
            if (contentLength > _client.MaxBodySize)
            {
                throw new HttpBodyTooLargeError(_client.MaxBodySize, contentLength);
            }

            return BodyFraming.Length;
        }

        return BodyFraming.UntilClose;
    }

    /// <summary>
    /// A Transfer-Encoding list: <c>chunked</c> last and once (RFC 9112 §6.1; a response whose
    /// final coding is not chunked could only be read until close, which curl and we refuse: it
    /// is how a response is smuggled past a proxy), the codings before it known to
    /// <see cref="ContentDecoder"/>.
    /// </summary>
    private void CheckTransferCodings(string codings, bool keep)
    {
        ReadOnlySpan<char> list = codings.AsSpan().TrimEnd(" \t,");
        int comma = list.LastIndexOf(',');
        if (!list[(comma + 1)..].Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase))
        {
            throw new HttpProtocolError($"Transfer-Encoding does not end with chunked: {codings}", $"Transfer-Encoding: {codings}");
        }

        string before = comma < 0 ? string.Empty : list[..comma].ToString();
        foreach (Range part in before.AsSpan().Split(','))
        {
            if (before.AsSpan()[part].Trim(" \t").Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                throw new HttpProtocolError($"Transfer-Encoding applies chunked more than once: {codings}", $"Transfer-Encoding: {codings}");
            }
        }

        if (!ContentDecoder.TryCreate(before, out ContentDecoder? decoder, out string? unknown))
        {
            throw new HttpProtocolError($"Unsupported Transfer-Encoding: {unknown}", $"Transfer-Encoding: {codings}");
        }

        if (keep)
        {
            _transferDecoder = decoder;
        }
        else
        {
            // A dropped body is only counted: nothing to undo.
            decoder?.Dispose();
        }
    }
}
