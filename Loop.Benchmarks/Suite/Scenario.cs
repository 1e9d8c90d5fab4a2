using System.Globalization;

namespace Loop.Benchmarks.Suite;

/// <summary>One row group of the comparison: which body, how many requests at once, keep-alive or not.</summary>
/// <param name="Path">The server path, <c>/small</c> (13 bytes) or <c>/large</c> (1 MiB).</param>
/// <param name="BodyBytes">The length of the body the server sends.</param>
/// <param name="Concurrency">Requests in flight at once (and connections, and <c>MaxClients</c>).</param>
/// <param name="Close">Each request asks for <c>Connection: close</c>.</param>
internal sealed record Scenario(string Path, long BodyBytes, int Concurrency, bool Close)
{
    /// <summary>The small body: 13 bytes, <c>Hello, world!</c>.</summary>
    public const long SmallBody = 13;

    /// <summary>The large body: 1 MiB.</summary>
    public const long LargeBody = 1 << 20;

    /// <summary>A short stable name, used in the JSON lines and to group results.</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture, $"{BodyLabel}/c{Concurrency}/{(Close ? "close" : "keep-alive")}");

    /// <summary>The body size as people write it.</summary>
    public string BodyLabel => BodyBytes >= LargeBody ? "1 MiB" : $"{BodyBytes} B";

    /// <summary>The heading of this scenario's table.</summary>
    public string Title => string.Create(CultureInfo.InvariantCulture, $"{BodyLabel}, concurrency {Concurrency:N0}, {(Close ? "Connection: close" : "keep-alive")}");

    /// <summary>A small-body scenario.</summary>
    public static Scenario Small(int concurrency, bool close = false) => new("/small", SmallBody, concurrency, close);

    /// <summary>A large-body scenario.</summary>
    public static Scenario Large(int concurrency, bool close = false) => new("/large", LargeBody, concurrency, close);
}
