using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Loop;

/// <summary>Address helpers (Tornado's <c>netutil.is_valid_ip</c> and friends).</summary>
public static class NetUtil
{
    /// <summary>
    /// True if <paramref name="text"/> is an IPv4 address in dotted-quad form or an IPv6 address,
    /// with nothing around it (no spaces, brackets, port or zone garbage).
    /// </summary>
    public static bool IsValidIP([NotNullWhen(true)] string? text) => TryParseIPLiteral(text, out _);

    /// <summary>Parses an IP literal strictly (see <see cref="IsValidIP"/>); <c>[::1]</c> is accepted too.</summary>
    public static bool TryParseIPLiteral([NotNullWhen(true)] string? text, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(text) || text.Length > 100)
        {
            return false;
        }

        string bare = StripBrackets(text);
        if (bare.Contains(':'))
        {
            // IPAddress.Parse accepts "[::1]:80" style input; take only a bare IPv6 address.
            return bare.AsSpan().IndexOfAny(" []\t\r\n\0") < 0
                && IPAddress.TryParse(bare, out address)
                && address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        // IPAddress.Parse also accepts "1", "1.2" and hex or octal parts; an address written by
        // a person or a URL is four decimal parts.
        Span<Range> parts = stackalloc Range[5];
        ReadOnlySpan<char> span = bare;
        if (span.Split(parts, '.') != 4)
        {
            return false;
        }

        foreach (Range part in parts[..4])
        {
            ReadOnlySpan<char> digits = span[part];
            if (digits.Length is 0 or > 3 || !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > 255)
            {
                return false;
            }
        }

        return IPAddress.TryParse(bare, out address);
    }

    /// <summary>Removes the brackets around an IPv6 literal (<c>[::1]</c> to <c>::1</c>).</summary>
    public static string StripBrackets(string host) =>
        host.Length > 2 && host[0] == '[' && host[^1] == ']' ? host[1..^1] : host;

    /// <summary>
    /// Splits <c>host</c>, <c>host:port</c>, <c>[v6]</c> or <c>[v6]:port</c> into the bare host and
    /// the port (<paramref name="defaultPort"/> when there is none). A bare IPv6 address without
    /// brackets is taken as a host.
    /// </summary>
    /// <exception cref="ArgumentException">The text is empty or the port is not a number from 0 to 65535.</exception>
    public static (string Host, int Port) SplitHostPort(string text, int defaultPort)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        string host = text;
        string? port = null;
        if (text[0] == '[')
        {
            int close = text.IndexOf(']');
            if (close < 0)
            {
                throw new ArgumentException($"Unclosed '[' in '{text}'.", nameof(text));
            }

            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':')
                {
                    throw new ArgumentException($"Expected ':' after ']' in '{text}'.", nameof(text));
                }

                port = text[(close + 2)..];
            }
        }
        else
        {
            int colon = text.IndexOf(':');
            if (colon >= 0 && colon == text.LastIndexOf(':'))
            {
                host = text[..colon];
                port = text[(colon + 1)..];
            }
        }

        if (host.Length == 0)
        {
            throw new ArgumentException($"No host in '{text}'.", nameof(text));
        }

        if (port is null)
        {
            return (host, defaultPort);
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number > IPEndPoint.MaxPort)
        {
            throw new ArgumentException($"Bad port in '{text}'.", nameof(text));
        }

        return (host, number);
    }
}
