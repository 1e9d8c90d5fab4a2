namespace Loop.Fetch;

/// <summary>What <c>loop-fetch</c> exits with; with several URLs, the highest of theirs.</summary>
internal static class ExitCodes
{
    /// <summary>Every URL answered (any status, unless <c>--fail</c>).</summary>
    public const int Success = 0;

    /// <summary>With <c>--fail</c>: a response whose status is not 2xx.</summary>
    public const int HttpError = 1;

    /// <summary>The command line was wrong: an unknown option, a bad value, a missing URL.</summary>
    public const int Usage = 2;

    /// <summary>No response (Tornado's 599): refused, timed out, name not found, TLS, cut short, a write that failed.</summary>
    public const int NoResponse = 3;
}
