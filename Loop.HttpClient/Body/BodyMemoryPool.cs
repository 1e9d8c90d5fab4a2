using System.Buffers;

namespace Loop.Http.Body;

/// <summary>
/// Where one client's pooled response bodies (<see cref="HttpFetchOptions.PooledBody"/>) rent their memory: small arrays from
/// <see cref="ArrayPool{T}.Shared"/>, large ones (over <see cref="SmallArray"/> bytes) from a pool
/// of the client's own that keeps up to <c>MaxClients</c> arrays of each size. Thread-safe (a
/// response may be disposed on any thread).
/// </summary>
/// <remarks>
/// Why not the shared pool for all: it keeps 32 arrays of a size per core (and one per thread),
/// and a process pinned to one core sees one core. Measured with 200 concurrent fetches of 1 MiB
/// pooled bodies (simple client, Release, pinned to one core), the shared pool had no array for
/// one rent in eight, each a new 1 MiB array on the large object heap (127 KB allocated per
/// fetch); with this pool, none (0.7 KB per fetch, the request's own objects). The price: what the
/// client's busiest moment needed stays in the pool until the client is garbage, at most
/// <c>MaxClients</c> arrays of each power-of-two size up to <see cref="LargestPooled"/> (nothing
/// for a client that never receives a pooled body).
/// </remarks>
internal sealed class BodyMemoryPool : ArrayPool<byte>
{
    /// <summary>Arrays up to this size come from the shared pool, whose caches suffice for them.</summary>
    public const int SmallArray = 32 * 1024;

    /// <summary>Larger arrays are not pooled: rented new, dropped when returned.</summary>
    public const int LargestPooled = 64 * 1024 * 1024;

    private readonly ArrayPool<byte> _large;

    /// <summary>Creates a pool that keeps up to <paramref name="arraysPerSize"/> large arrays of each size.</summary>
    public BodyMemoryPool(int arraysPerSize) => _large = Create(LargestPooled, arraysPerSize);

    /// <inheritdoc/>
    public override byte[] Rent(int minimumLength) =>
        minimumLength <= SmallArray ? Shared.Rent(minimumLength) : _large.Rent(minimumLength);

    /// <inheritdoc/>
    public override void Return(byte[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length <= SmallArray)
        {
            Shared.Return(array, clearArray);
        }
        else
        {
            _large.Return(array, clearArray);
        }
    }
}
