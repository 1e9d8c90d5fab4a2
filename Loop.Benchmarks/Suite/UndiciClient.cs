using System.Globalization;
using System.Text.Json;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Node's undici (a <c>Pool</c> with one connection per concurrent request), run by
/// <c>Peers/undici-bench.js</c>, which warms up and measures itself and reports its own CPU time.
/// undici is installed with npm into the runner's work directory, never globally.
/// </summary>
internal sealed class UndiciClient : ToolClient
{
    private readonly string _node;
    private readonly string _modules;
    private readonly string _script;
    private readonly TimeSpan _warmup;

    private UndiciClient(string node, string modules, string script, IReadOnlyList<string> launcher, TimeSpan warmup, string version)
        : base("undici", launcher)
    {
        _node = node;
        _modules = modules;
        _script = script;
        _warmup = warmup;
        Version = version;
    }

    /// <summary>Node's and undici's versions, for the machine description.</summary>
    public string Version { get; }

    /// <summary>undici when node is present and undici is installed or can be; otherwise null and <paramref name="why"/> says why not.</summary>
    public static UndiciClient? TryCreate(string workDirectory, IReadOnlyList<string> launcher, TimeSpan warmup, out string? why)
    {
        string? node = Tools.Find("node");
        if (node is null)
        {
            why = "undici skipped: node is not installed";
            return null;
        }

        string script = Path.Combine(AppContext.BaseDirectory, "Peers", "undici-bench.js");
        string prefix = Path.Combine(workDirectory, "node");
        string modules = Path.Combine(prefix, "node_modules");
        string package = Path.Combine(modules, "undici", "package.json");
        if (!File.Exists(package))
        {
            string? npm = Tools.Find("npm");
            if (npm is null)
            {
                why = "undici skipped: node is installed but npm is not";
                return null;
            }

            Directory.CreateDirectory(prefix);
            Console.WriteLine($"Installing undici into {prefix} (npm)");
            (int code, string output) = Tools.Capture(npm, ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", "undici"], TimeSpan.FromMinutes(3));
            if (code != 0 || !File.Exists(package))
            {
                why = $"undici skipped: npm could not install it ({FirstLine(output)})";
                return null;
            }
        }

        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(package));
        string undiciVersion = manifest.RootElement.TryGetProperty("version", out JsonElement v) ? v.GetString() ?? "?" : "?";
        why = null;
        return new UndiciClient(node, modules, script, launcher, warmup, $"node {Tools.FirstLineOf(node, "--version")}, undici {undiciVersion}");
    }

    public override Measurement Run(RunSpec spec)
    {
        try
        {
            // Node starts afresh each repetition, so every repetition warms up (V8 tiers up too, and connections open).
            double warmup = Math.Max(0.5, Math.Max(spec.Warmup.TotalSeconds, _warmup.TotalSeconds));
            ToolRun run = Execute(
                [
                    _node, _script, _modules, spec.Url, spec.Scenario.Concurrency.ToString(CultureInfo.InvariantCulture), spec.Scenario.Close ? "1" : "0",
                    warmup.ToString(CultureInfo.InvariantCulture), spec.Duration.TotalSeconds.ToString(CultureInfo.InvariantCulture),
                ],
                TimeSpan.FromSeconds(warmup) + spec.Duration + TimeSpan.FromMinutes(2));
            if (run.ExitCode != 0)
            {
                return Measurement.Failed(Name, spec.Scenario, spec.Repetition, $"node exited with {run.ExitCode}: {FirstLine(run.Errors)}");
            }

            string line = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
            using JsonDocument result = JsonDocument.Parse(line);
            JsonElement root = result.RootElement;
            return new Measurement
            {
                Client = Name,
                Scenario = spec.Scenario.Key,
                Repetition = spec.Repetition,
                Requests = root.GetProperty("requests").GetInt64(),
                Errors = root.GetProperty("errors").GetInt64(),
                Seconds = root.GetProperty("seconds").GetDouble(),
                P50Us = Number(root, "p50Us"),
                P99Us = Number(root, "p99Us"),
                CpuUsPerRequest = Number(root, "cpuUsPerRequest"),
            };
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or JsonException or KeyNotFoundException or System.ComponentModel.Win32Exception)
        {
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, e.Message);
        }
    }

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
