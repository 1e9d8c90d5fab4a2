using System.Net;
using System.Net.Sockets;

namespace Loop;

/// <summary>
/// Remembers what another resolver answered for <see cref="TimeToLive"/>, and shares one lookup
/// among callers asking for the same name at the same time. Failures are not cached. Thread-safe.
/// </summary>
public sealed class CachingResolver : IResolver
{
    private readonly IResolver _inner;
    private readonly TimeProvider _time;
    private readonly Dictionary<(string Host, int Port, AddressFamily Family), Entry> _entries = [];
#if NET9_0_OR_GREATER
    private readonly Lock _lock = new();
#else
    private readonly object _lock = new();
#endif

    /// <summary>Creates the cache.</summary>
    /// <param name="inner">The resolver asked on a miss.</param>
    /// <param name="timeToLive">How long an answer is reused; must be positive.</param>
    /// <param name="timeProvider">The clock (tests pass a fake one); null for the system clock.</param>
    public CachingResolver(IResolver inner, TimeSpan timeToLive, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeToLive, TimeSpan.Zero);
        _inner = inner;
        TimeToLive = timeToLive;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How long an answer is reused.</summary>
    public TimeSpan TimeToLive { get; }

    /// <summary>Names currently cached or being looked up.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Forgets every answer.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
        }
    }

    /// <inheritdoc/>
    public ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var key = (host.ToLowerInvariant(), port, family);
        long now = _time.GetTimestamp();
        Task<IPEndPoint[]> lookup;
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out Entry entry) && (entry.Expires == 0 || now < entry.Expires))
            {
                lookup = entry.Lookup;
            }
            else
            {
                // Not cancellable: other callers may share it. A cancelled caller stops waiting below.
                lookup = _inner.ResolveAsync(host, port, family, CancellationToken.None).AsTask();
                _entries[key] = new Entry(lookup, 0);
                _ = lookup.ContinueWith(
                    static (task, state) => ((CachingResolver)((object[])state!)[0]).OnLookupDone(task, ((object[])state!)[1]),
                    new object[] { this, key },
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }

        return CopyAsync(lookup, cancellationToken);
    }

    // Every caller gets its own array, so one caller reordering it cannot affect another.
    private static async ValueTask<IPEndPoint[]> CopyAsync(Task<IPEndPoint[]> lookup, CancellationToken cancellationToken)
    {
        IPEndPoint[] endpoints = await (cancellationToken.CanBeCanceled ? lookup.WaitAsync(cancellationToken) : lookup).ConfigureAwait(true);
        return (IPEndPoint[])endpoints.Clone();
    }

    private void OnLookupDone(Task<IPEndPoint[]> task, object key)
    {
        var typedKey = ((string, int, AddressFamily))key;
        lock (_lock)
        {
            if (!_entries.TryGetValue(typedKey, out Entry entry) || entry.Lookup != task)
            {
                return;
            }

            if (task.IsCompletedSuccessfully)
            {
                long ticks = (long)(TimeToLive.TotalSeconds * _time.TimestampFrequency);
                _entries[typedKey] = entry with { Expires = _time.GetTimestamp() + Math.Max(1, ticks) };
            }
            else
            {
                _entries.Remove(typedKey);
            }
        }
    }

    private readonly record struct Entry(Task<IPEndPoint[]> Lookup, long Expires);
}
