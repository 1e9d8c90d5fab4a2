using System.Net;
using System.Net.Sockets;

namespace Loop;

/// <summary>
/// Resolves with the system resolver through <see cref="Dns.GetHostAddressesAsync(string, AddressFamily, CancellationToken)"/>
/// (getaddrinfo, off the loop thread), so the loop never waits on DNS; the result is awaited, so
/// on the loop thread it resumes there, and the caller's token cancels the wait. IP literals are
/// answered at once. Each lookup is recorded as <c>dns.lookup.duration</c> on the <c>Loop.Http</c>
/// meter when someone listens. Thread-safe.
/// </summary>
public sealed class DefaultResolver : IResolver
{
    /// <summary>The shared instance.</summary>
    public static DefaultResolver Instance { get; } = new();

    /// <inheritdoc/>
    public async ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ValidatePort(port);
        if (NetUtil.TryParseIPLiteral(host, out IPAddress? literal))
        {
            if (family != AddressFamily.Unspecified && literal.AddressFamily != family)
            {
                throw new ResolveException(host, $"The address {host} is not of the requested family {family}.");
            }

            return [new IPEndPoint(literal, port)];
        }

        IPAddress[] addresses;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, family, cancellationToken).ConfigureAwait(true);
            DnsTelemetry.Record(host, started, error: null);
        }
        catch (SocketException e)
        {
            DnsTelemetry.Record(host, started, e);
            throw new ResolveException(host, $"Could not resolve host '{host}': {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            DnsTelemetry.Record(host, started, e);
            throw new ResolveException(host, $"Could not resolve host '{host}': {e.Message}", e);
        }

        var endpoints = new List<IPEndPoint>(addresses.Length);
        foreach (IPAddress address in addresses)
        {
            if (family == AddressFamily.Unspecified
                ? address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6
                : address.AddressFamily == family)
            {
                endpoints.Add(new IPEndPoint(address, port));
            }
        }

        if (endpoints.Count == 0)
        {
            throw new ResolveException(host, $"Could not resolve host '{host}': no {(family == AddressFamily.Unspecified ? "IP" : family.ToString())} address.");
        }

        return [.. endpoints];
    }

    internal static void ValidatePort(int port) => ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)port, (uint)IPEndPoint.MaxPort, nameof(port));
}
