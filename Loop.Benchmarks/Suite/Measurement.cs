using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// What one client did in one repetition of one scenario: the JSON line a <c>bench-client</c>
/// child prints, and what the report is made of. Figures a client cannot give are null.
/// </summary>
internal sealed record Measurement
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The client's name as the report shows it.</summary>
    public required string Client { get; init; }

    /// <summary>The <see cref="Scenario.Key"/>.</summary>
    public required string Scenario { get; init; }

    /// <summary>The repetition, from 0.</summary>
    public int Repetition { get; init; }

    /// <summary>Responses with status 200 that came back in the measured time.</summary>
    public long Requests { get; init; }

    /// <summary>Requests that failed or answered with another status.</summary>
    public long Errors { get; init; }

    /// <summary>The measured wall-clock time.</summary>
    public double Seconds { get; init; }

    /// <summary>Median latency, microseconds.</summary>
    public double? P50Us { get; init; }

    /// <summary>99th percentile latency, microseconds.</summary>
    public double? P99Us { get; init; }

    /// <summary>CPU time (user + system) of the client's process per request, microseconds.</summary>
    public double? CpuUsPerRequest { get; init; }

    /// <summary>Bytes allocated on the managed heap per request (.NET clients only).</summary>
    public double? BytesPerRequest { get; init; }

    /// <summary>
    /// Gen-2 garbage collections in the client's process over the measured window
    /// (<see cref="GC.CollectionCount"/> of generation 2, which counts the large object heap's)
    /// per 1,000 requests (.NET clients only).
    /// </summary>
    public double? Gen2PerThousand { get; init; }

    /// <summary>The client process's GC pause time (<see cref="GC.GetTotalPauseDuration"/>) over the measured window per second of it, milliseconds (.NET clients only).</summary>
    public double? GcPauseMsPerSecond { get; init; }

    /// <summary>Connections the server accepted during the client's run (warm-up included), when the server can tell.</summary>
    public long? Connections { get; init; }

    /// <summary>
    /// Connections open while the memory figures were taken: the client process's file
    /// descriptors then less before it made its client (rows with thousands of connections).
    /// </summary>
    public long? OpenConnections { get; init; }

    /// <summary>The client process's resident memory (RSS) while its connections were open, less before, per <see cref="OpenConnections"/>; bytes.</summary>
    public double? RssBytesPerConnection { get; init; }

    /// <summary>The live managed heap (after a full collection) while its connections were open, less before, per <see cref="OpenConnections"/>; bytes.</summary>
    public double? HeapBytesPerConnection { get; init; }

    /// <summary>What the first failed request of the run said (error type and message), when one failed (.NET clients only).</summary>
    public string? FirstError { get; init; }

    /// <summary>Why the client gave no figures, when it failed.</summary>
    public string? Failure { get; init; }

    /// <summary>Requests per second.</summary>
    [JsonIgnore]
    public double RequestsPerSecond => Seconds > 0 ? Requests / Seconds : double.NaN;

    /// <summary>One JSON line.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads a line written by <see cref="ToJson"/>.</summary>
    public static Measurement FromJson(string line) =>
        JsonSerializer.Deserialize<Measurement>(line, s_json) ?? throw new FormatException("An empty measurement line.");

    /// <summary>A measurement that records only that the client failed.</summary>
    public static Measurement Failed(string client, Scenario scenario, int repetition, string why) =>
        new() { Client = client, Scenario = scenario.Key, Repetition = repetition, Failure = why };
}
