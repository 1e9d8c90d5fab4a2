using System.Buffers;

namespace Loop.Http.Body;

/// <summary>
/// The body a client hands to its <see cref="HttpResponse"/>: an array of exactly its length, or
/// (with a <see cref="Pool"/>) the first <see cref="Length"/> bytes of an array rented from that
/// pool, which the response returns when disposed. A pooled body may have no array (nothing was
/// received): the response is still a pooled one, whose memory is gone once disposed.
/// </summary>
internal readonly struct ResponseBody
{
    private ResponseBody(byte[]? array, int length, ArrayPool<byte>? pool)
    {
        Array = array;
        Length = length;
        Pool = pool;
    }

    /// <summary>No body, owned by nobody.</summary>
    public static ResponseBody Empty => new([], 0, null);

    /// <summary>The bytes; null only for a pooled body with nothing rented.</summary>
    public byte[]? Array { get; }

    /// <summary>How many of <see cref="Array"/>'s bytes are the body.</summary>
    public int Length { get; }

    /// <summary>The pool <see cref="Array"/> was rented from; null for an array of the body's own.</summary>
    public ArrayPool<byte>? Pool { get; }

    /// <summary>A body in an array of exactly its size (null: empty).</summary>
    public static ResponseBody Exact(byte[]? body) => new(body ?? [], body?.Length ?? 0, null);

    /// <summary>The first <paramref name="length"/> bytes of <paramref name="array"/>, rented from <paramref name="pool"/> (null: nothing rented).</summary>
    public static ResponseBody Pooled(byte[]? array, int length, ArrayPool<byte> pool) => new(array, length, pool);
}
