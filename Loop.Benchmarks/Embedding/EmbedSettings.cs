using System.Globalization;

namespace Loop.Benchmarks.Embedding;

/// <summary>
/// One host run: which client fetches what, how many at once, how the host ticks, and the
/// rounds. Parsed from the same options by the runner (<c>embed</c>) and by the host process
/// it starts (<c>embed-host</c>), so both read them alike.
/// </summary>
internal sealed record EmbedSettings
{
    /// <summary>The clients <c>embed</c> runs by default, in report order.</summary>
    public static readonly string[] AllClients = ["simple", "curl"];

    /// <summary>simple or curl.</summary>
    public string Client { get; init; } = "simple";

    /// <summary>What every fetch gets; null until the runner knows its server.</summary>
    public string? Url { get; init; }

    /// <summary>How each body is received.</summary>
    public BodyMode Body { get; init; } = BodyMode.Buffered;

    /// <summary>Fetches in flight at once (workers), and the client's <c>MaxClients</c>.</summary>
    public int Concurrency { get; init; } = 200;

    /// <summary>Each measured round.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Load before the first round whose ticks are not counted (the JIT's tier-up, connections, the pools' first filling).</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The time slice of a bounded <c>RunOnce</c> (<see cref="TickBudget.TimeSlice"/>); zero: unbounded rounds only.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The host's own work per tick (a busy loop).</summary>
    public TimeSpan Work { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Ticks per second.</summary>
    public int Hz { get; init; } = 60;

    /// <summary>The modes each repetition runs a round of, in order (rotated every repetition).</summary>
    public IReadOnlyList<HostMode> Modes { get; init; } = [HostMode.Budget, HostMode.Frame, HostMode.Unbounded];

    /// <summary>Rounds of each mode, interleaved.</summary>
    public int Repetitions { get; init; } = 2;

    /// <summary>The options that take a value, and what they mean.</summary>
    public static readonly string[] ValueOptions =
        ["--client", "--clients", "--body", "--url", "--modes", "--concurrency", "--duration", "--warmup", "--budget-ms", "--work-ms", "--hz", "--repetitions"];

    /// <summary>Reads the options in <see cref="ValueOptions"/> over these defaults; <c>--clients</c> is read by the runner.</summary>
    /// <exception cref="FormatException">A number does not parse or is out of range.</exception>
    public static EmbedSettings Parse(IReadOnlyList<string> args)
    {
        var settings = new EmbedSettings();
        for (int i = 0; i + 1 < args.Count; i++)
        {
            string value = args[i + 1];
            settings = args[i] switch
            {
                "--client" => settings with { Client = value },
                "--url" => settings with { Url = value },
                "--body" when !value.Contains(',', StringComparison.Ordinal) => settings with { Body = ParseBody(value) },
                "--modes" => settings with { Modes = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseMode)] },
                "--concurrency" => settings with { Concurrency = Positive(args[i], value) },
                "--duration" => settings with { Duration = TimeSpan.FromSeconds(Number(args[i], value)) },
                "--warmup" => settings with { Warmup = TimeSpan.FromSeconds(Number(args[i], value)) },
                "--budget-ms" => settings with { Budget = TimeSpan.FromMilliseconds(Number(args[i], value)) },
                "--work-ms" => settings with { Work = TimeSpan.FromMilliseconds(Number(args[i], value)) },
                "--hz" => settings with { Hz = Positive(args[i], value) },
                "--repetitions" => settings with { Repetitions = Positive(args[i], value) },
                _ => settings,
            };
        }

        return settings;
    }

    /// <summary>These settings as <c>embed-host</c> options, for one client.</summary>
    public List<string> ToArguments() =>
    [
        "--client", Client,
        "--body", Body.ToString().ToLowerInvariant(),
        "--url", Url ?? throw new InvalidOperationException("No URL to fetch."),
        "--modes", string.Join(',', Modes.Select(m => m.ToString().ToLowerInvariant())),
        "--concurrency", Invariant(Concurrency),
        "--duration", Invariant(Duration.TotalSeconds),
        "--warmup", Invariant(Warmup.TotalSeconds),
        "--budget-ms", Invariant(Budget.TotalMilliseconds),
        "--work-ms", Invariant(Work.TotalMilliseconds),
        "--hz", Invariant(Hz),
        "--repetitions", Invariant(Repetitions),
    ];

    /// <summary>Equal settings: the same values, the modes in the same order.</summary>
    public bool Equals(EmbedSettings? other) =>
        other is not null && Client == other.Client && Body == other.Body && Url == other.Url && Modes.SequenceEqual(other.Modes) && Concurrency == other.Concurrency
        && Duration == other.Duration && Warmup == other.Warmup && Budget == other.Budget && Work == other.Work && Hz == other.Hz && Repetitions == other.Repetitions;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Client, Url, Concurrency, Duration, Budget, Hz, Repetitions);

    /// <summary>A <c>--body</c> value: buffered, pooled, writer or stream.</summary>
    /// <exception cref="FormatException">Another value.</exception>
    public static BodyMode ParseBody(string name) =>
        Enum.TryParse(name, ignoreCase: true, out BodyMode body) && Enum.IsDefined(body)
            ? body
            : throw new FormatException($"--body takes buffered, pooled, writer or stream, not '{name}'.");

    private static HostMode ParseMode(string name) =>
        Enum.TryParse(name, ignoreCase: true, out HostMode mode) && Enum.IsDefined(mode)
            ? mode
            : throw new FormatException($"--modes takes budget, frame and unbounded, not '{name}'.");

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static double Number(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && number >= 0
            ? number
            : throw new FormatException($"{name} takes a number of zero or more, not '{value}'.");

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number > 0
            ? number
            : throw new FormatException($"{name} takes a whole number above zero, not '{value}'.");
}
