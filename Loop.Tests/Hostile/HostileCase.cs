using System.Security.Cryptography;
using System.Text;
using Loop.Http;

namespace Loop.Tests.Hostile;

/// <summary>How the server leaves a connection once a reply's bytes are written.</summary>
public enum ServerEnd
{
    /// <summary>Reads the next request on the same connection (the reply was meant to be complete).</summary>
    KeepAlive,

    /// <summary>Closes gracefully (FIN).</summary>
    Close,

    /// <summary>Closes with SO_LINGER 0, which sends a reset (RST) instead of a FIN.</summary>
    Reset,

    /// <summary>Keeps the connection open and reads nothing more, until the test ends.</summary>
    Stall,
}

/// <summary>One thing the server does while it replies.</summary>
public abstract record Step
{
    /// <summary>One send of these exact bytes.</summary>
    public sealed record Write(byte[] Bytes) : Step;

    /// <summary>Sends these bytes again and again until the client goes away.</summary>
    public sealed record WriteForever(byte[] Bytes) : Step;

    /// <summary>Waits before the next step (a deliberately slow server: the only timer in the catalogue).</summary>
    public sealed record Pause(TimeSpan Duration) : Step;

    /// <summary>Reads the request (for a reply that was written before the request was read).</summary>
    public sealed record ReadRequest : Step;
}

/// <summary>What the server does for one request: its steps, then how the connection ends.</summary>
/// <param name="Steps">The steps, in order.</param>
/// <param name="End">How the connection is left once the steps are done.</param>
/// <param name="ReadsRequest">Whether the request head is read before the steps (false: the server speaks first or not at all).</param>
/// <param name="ReadsBody">Whether the request body (by its Content-Length) is read with the head.</param>
public sealed record Reply(IReadOnlyList<Step> Steps, ServerEnd End, bool ReadsRequest = true, bool ReadsBody = true)
{
    /// <summary>The bytes of the reply's plain writes, concatenated (what a fuzzer can mutate), or null if it writes forever.</summary>
    public byte[]? FiniteBytes
    {
        get
        {
            var all = new List<byte>();
            foreach (Step step in Steps)
            {
                switch (step)
                {
                    case Step.Write write:
                        all.AddRange(write.Bytes);
                        break;
                    case Step.WriteForever:
                        return null;
                }
            }

            return [.. all];
        }
    }
}

/// <summary>The request a case makes, and the client limits it runs under.</summary>
public sealed record RequestShape
{
    /// <summary>The catalogue's limit on a body: small, so the endless cases end quickly.</summary>
    public const long DefaultMaxBodySize = 1024 * 1024;

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The request timeout of the cases where the server stalls (each costs this).</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromMilliseconds(300);

    public string Path { get; init; } = "/";

    public string Method { get; init; } = "GET";

    /// <summary>Bytes of body to upload (POST), 0 for none.</summary>
    public int UploadBytes { get; init; }

    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    public long MaxBodySize { get; init; } = DefaultMaxBodySize;

    public int MaxRedirects { get; init; } = 3;

    public bool DecompressResponse { get; init; } = true;
}

/// <summary>What a fetch must give: a response, or a failure of one type of the error model.</summary>
public abstract record Outcome
{
    /// <summary>Describes the outcome for the catalogue's table.</summary>
    public abstract string Describe();

    /// <summary>Why <paramref name="response"/> is not this outcome, or null if it is.</summary>
    public abstract string? Mismatch(HttpResponse response);

    /// <summary>A response with this code and exactly this body (raiseError off: a 3xx or 4xx is a response too).</summary>
    public sealed record Response(int Code, byte[] Body) : Outcome
    {
        public override string Describe()
        {
            string body = Body.Length == 0 ? "empty body"
                : Body.Length <= 16 && Body.All(b => b is >= 0x20 and < 0x7f) ? $"body `{Encoding.ASCII.GetString(Body)}`"
                : $"{Body.Length:N0}-byte body (SHA-256 {Convert.ToHexString(SHA256.HashData(Body))[..12].ToLowerInvariant()}…)";
            return $"{Code}, {body}";
        }

        public override string? Mismatch(HttpResponse response)
        {
            if (response.Code != Code)
            {
                return $"code {response.Code} ({Actual(response)}), expected {Code}";
            }

            if (!response.Body.AsSpan().SequenceEqual(Body))
            {
                return $"a {response.Body.Length}-byte body {Preview(response.Body)}, expected {Body.Length} bytes {Preview(Body)}";
            }

            return null;
        }
    }

    /// <summary>A 599 whose error is of exactly this type (or a subtype when not <paramref name="Exact"/>), its message containing <paramref name="Fragment"/>.</summary>
    public sealed record Failure(Type ErrorType, string? Fragment = null, HttpTimeoutPhase? Phase = null, bool Exact = true) : Outcome
    {
        public override string Describe() =>
            $"{ErrorType.Name}{(Phase is { } phase ? $"({phase})" : string.Empty)}{(Exact ? string.Empty : " or a subtype")}{(Fragment is null ? string.Empty : $" \"{Fragment}\"")}";

        public override string? Mismatch(HttpResponse response)
        {
            Exception? error = response.Error;
            if (response.Code != 599 || error is null)
            {
                return $"code {response.Code} ({Actual(response)}), expected a 599 {Describe()}";
            }

            bool typeOk = Exact ? error.GetType() == ErrorType : ErrorType.IsInstanceOfType(error);
            if (!typeOk)
            {
                return $"{Actual(response)}, expected {Describe()}";
            }

            if (Phase is { } phase && error is HttpTimeoutError timeout && timeout.Phase != phase)
            {
                return $"timeout in phase {timeout.Phase}, expected {phase}";
            }

            if (Fragment is not null && !error.Message.Contains(Fragment, StringComparison.OrdinalIgnoreCase))
            {
                return $"{Actual(response)}, expected a message containing \"{Fragment}\"";
            }

            return null;
        }
    }

    /// <summary>Any of these outcomes (where the issue allows a choice: apply or refuse).</summary>
    public sealed record OneOf(IReadOnlyList<Outcome> Options) : Outcome
    {
        public override string Describe() => string.Join(" or ", Options.Select(o => o.Describe()));

        public override string? Mismatch(HttpResponse response) =>
            Options.Any(o => o.Mismatch(response) is null) ? null : $"{Actual(response)}, expected {Describe()}";
    }

    /// <summary>What came back, in a line: the code and body length, or the error's type and message.</summary>
    public static string Actual(HttpResponse response) => response.Error is { } error && response.Code == 599
        ? $"{error.GetType().Name}{(error is HttpClientError { CurlCode: { } curl } ? $" [curl {curl}]" : string.Empty)}: {error.Message}"
        : $"{response.Code} with {response.Body.Length} bytes {Preview(response.Body)}";

    private static string Preview(byte[] body) =>
        "\"" + HttpProtocolError.Printable(Encoding.Latin1.GetString(body.AsSpan(0, Math.Min(body.Length, 40)))) + (body.Length > 40 ? "…" : string.Empty) + "\"";
}

/// <summary>
/// One catalogue entry: a name, what the server does for each request it receives (the last
/// reply repeats), the outcome the first fetch must have and, for smuggling attempts, the
/// outcome of a second fetch on the same client.
/// </summary>
public sealed record HostileCase(string Name, string ServerDoes, IReadOnlyList<Reply> Replies, Outcome Expected)
{
    public RequestShape Request { get; init; } = new();

    /// <summary>The outcome of a second GET of the same URL on the same client, made once the first reply was fully served.</summary>
    public Outcome? Second { get; init; }

    /// <summary>Prefixes the request heads the server receives must start with, in order (a redirect's target, for instance).</summary>
    public IReadOnlyList<string>? RequestLines { get; init; }

    /// <summary>Strings no request head may contain (what a header injection would have added).</summary>
    public IReadOnlyList<string>? NeverSent { get; init; }

    /// <summary>Whether the server stalls somewhere, so the case costs its timeout.</summary>
    public bool Stalls => Replies.Any(r => r.End == ServerEnd.Stall);

    public override string ToString() => Name;
}
