using System.Net;
using System.Net.Sockets;

namespace Loop;

/// <summary>
/// Redirects chosen hosts elsewhere, then resolves through another resolver (Tornado's
/// <c>OverrideResolver</c>, behind the HTTP client's <c>hostname_mapping</c>). Keys are
/// <c>host</c> or <c>host:port</c> (IPv6 as <c>[::1]:443</c>); a <c>host:port</c> key wins over a
/// plain <c>host</c> key. Values are <c>host</c> (the port is kept) or <c>host:port</c>. Keys
/// are matched without regard to case. Thread-safe once built.
/// </summary>
public sealed class OverrideResolver : IResolver
{
    private readonly IResolver _inner;
    private readonly Dictionary<string, (string Host, int Port)> _mapping = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates the resolver.</summary>
    /// <param name="inner">Resolves whatever the mapping yields (and hosts it does not mention).</param>
    /// <param name="mapping">From <c>host</c> or <c>host:port</c> to <c>host</c> or <c>host:port</c>.</param>
    /// <exception cref="ArgumentException">A key or value is not a host or host:port.</exception>
    public OverrideResolver(IResolver inner, IEnumerable<KeyValuePair<string, string>> mapping)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(mapping);
        _inner = inner;
        foreach ((string key, string value) in mapping)
        {
            (string keyHost, int keyPort) = NetUtil.SplitHostPort(key, defaultPort: -1);
            (string host, int port) = NetUtil.SplitHostPort(value, defaultPort: -1);
            _mapping[KeyOf(keyHost, keyPort)] = (host, port);
        }
    }

    /// <summary>The resolver behind the mapping.</summary>
    public IResolver Inner => _inner;

    /// <inheritdoc/>
    public ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        string bare = NetUtil.StripBrackets(host);
        if (_mapping.TryGetValue(KeyOf(bare, port), out (string Host, int Port) target) ||
            _mapping.TryGetValue(KeyOf(bare, -1), out target))
        {
            return _inner.ResolveAsync(target.Host, target.Port >= 0 ? target.Port : port, family, cancellationToken);
        }

        return _inner.ResolveAsync(host, port, family, cancellationToken);
    }

    private static string KeyOf(string host, int port) => port < 0 ? host : $"{host}\0{port}";
}
