using System.Net;
using System.Net.Sockets;

namespace Loop;

/// <summary>
/// Turns a host name into addresses to connect to (Tornado's <c>Resolver</c>). Implementations
/// never block the calling thread; an <c>await</c> on the loop thread resumes on it.
/// </summary>
public interface IResolver
{
    /// <summary>
    /// Resolves <paramref name="host"/> to endpoints with <paramref name="port"/>, in the order
    /// to try them.
    /// </summary>
    /// <param name="host">A host name or an IP literal (returned as it is, without a lookup).</param>
    /// <param name="port">The port to put in every endpoint.</param>
    /// <param name="family"><see cref="AddressFamily.Unspecified"/> for any, or InterNetwork / InterNetworkV6 to keep only that family.</param>
    /// <param name="cancellationToken">Abandons the lookup.</param>
    /// <exception cref="ResolveException">(In the task.) The name does not resolve, or to no address of <paramref name="family"/>.</exception>
    ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default);
}
