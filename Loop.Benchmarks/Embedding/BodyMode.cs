namespace Loop.Benchmarks.Embedding;

/// <summary>How the workers receive each response's body.</summary>
internal enum BodyMode
{
    /// <summary>The default: a new array of the body's size (<see cref="Http.HttpResponse.Body"/>), on the large object heap at 1 MiB.</summary>
    Buffered,

    /// <summary><see cref="Http.HttpFetchOptions.PooledBody"/>: memory rented from the shared array pool, returned when the worker disposes the response.</summary>
    Pooled,

    /// <summary><see cref="Http.HttpFetchOptions.BodyWriter"/>: each worker's own <see cref="System.Buffers.ArrayBufferWriter{T}"/>, emptied and reused for every fetch.</summary>
    Writer,

    /// <summary><see cref="Http.HttpFetchOptions.StreamingCallback"/>: the chunks are counted as they arrive and no body is kept.</summary>
    Stream,
}
