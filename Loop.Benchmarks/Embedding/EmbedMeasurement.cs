using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// What the host saw in one measured round: its ticks, how late they ran, how long the loop
/// held its thread, what the fetches achieved and what the GC did meanwhile. The JSON line an
/// <c>embed-host</c> process prints, and a row of the report.
/// </summary>
internal sealed record EmbedMeasurement
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The command-line name of the client (simple, curl).</summary>
    public required string Client { get; init; }

    /// <summary>The <see cref="BodyMode"/>, lower case.</summary>
    public string Body { get; init; } = "buffered";

    /// <summary>The <see cref="HostMode"/>, lower case.</summary>
    public string Mode { get; init; } = "unbounded";

    /// <summary>The time slice given to each <c>RunOnce</c> (at most, in the frame mode), milliseconds; null: unbounded.</summary>
    public double? BudgetMs { get; init; }

    /// <summary>The repetition, from 0.</summary>
    public int Repetition { get; init; }

    /// <summary>The measured wall-clock time, seconds.</summary>
    public double Seconds { get; init; }

    /// <summary>Timer expirations in the round (ticks that were due).</summary>
    public long Ticks { get; init; }

    /// <summary>Expirations the host never ran a tick for: one read of the timerfd counting n &gt; 1 loses n − 1.</summary>
    public long TicksLost { get; init; }

    /// <summary>Tick lateness (when the host read the timerfd less the scheduled time of the oldest expiry it read), median, milliseconds.</summary>
    public double LatenessP50Ms { get; init; }

    /// <summary>Tick lateness, 99th percentile, milliseconds.</summary>
    public double LatenessP99Ms { get; init; }

    /// <summary>Tick lateness, the worst, milliseconds.</summary>
    public double LatenessMaxMs { get; init; }

    /// <summary>The longest single <c>RunOnce</c> call, milliseconds.</summary>
    public double LongestRunOnceMs { get; init; }

    /// <summary>The GC's pauses during that longest call, milliseconds.</summary>
    public double LongestRunOnceGcMs { get; init; }

    /// <summary>The host thread's CPU time during that longest call, milliseconds (less than the call: the core was taken meanwhile).</summary>
    public double LongestRunOnceCpuMs { get; init; }

    /// <summary>The most CPU time the host thread spent in one <c>RunOnce</c> call, milliseconds: the loop's own work, whatever else ran on the core.</summary>
    public double MostRunOnceCpuMs { get; init; }

    /// <summary>The <c>RunOnce</c> calls in the round.</summary>
    public long RunOnceCalls { get; init; }

    /// <summary>Fetches answered 200 in the round.</summary>
    public long Fetches { get; init; }

    /// <summary>Body bytes those fetches received.</summary>
    public long Bytes { get; init; }

    /// <summary>Fetches that failed or answered another status.</summary>
    public long Errors { get; init; }

    /// <summary>Fetch continuations that ran on another thread than the host's (each should run on it).</summary>
    public long OffHostThread { get; init; }

    /// <summary>Involuntary context switches of the host thread in the round: times another thread took its core (a busy machine).</summary>
    public long Preempted { get; init; }

    /// <summary>Collections of each generation in the round.</summary>
    public int Gen0 { get; init; }

    /// <inheritdoc cref="Gen0"/>
    public int Gen1 { get; init; }

    /// <inheritdoc cref="Gen0"/>
    public int Gen2 { get; init; }

    /// <summary>Time the GC paused the process in the round, milliseconds.</summary>
    public double GcPauseMs { get; init; }

    /// <summary>Managed bytes allocated in the round, per fetch.</summary>
    public double BytesAllocatedPerFetch { get; init; }

    /// <summary>What the first failed fetch said, when one failed.</summary>
    public string? FirstError { get; init; }

    /// <summary>Why the round gave no figures, when it failed.</summary>
    public string? Failure { get; init; }

    /// <summary>Whether the round ran with a budget.</summary>
    [JsonIgnore]
    public bool Bounded => Mode != "unbounded";

    /// <summary>Fetches per second.</summary>
    [JsonIgnore]
    public double FetchesPerSecond => Seconds > 0 ? Fetches / Seconds : double.NaN;

    /// <summary>Body megabytes (10^6 bytes) per second.</summary>
    [JsonIgnore]
    public double MegabytesPerSecond => Seconds > 0 ? Bytes / Seconds / 1e6 : double.NaN;

    /// <summary>One JSON line.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads a line written by <see cref="ToJson"/>.</summary>
    public static EmbedMeasurement FromJson(string line) =>
        JsonSerializer.Deserialize<EmbedMeasurement>(line, s_json) ?? throw new FormatException("An empty measurement line.");
}
