using System.Diagnostics;
using System.Text.Json;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// The runner's side of a .NET client that runs in a process of its own
/// (<c>Loop.Benchmarks bench-client --client simple</c>), so that one client's JIT, GC and
/// thread-pool state never touch another's. The child lives for the whole suite (it tiers up
/// once) and answers one <see cref="RunSpec"/> line on its standard input with one result line.
/// </summary>
internal sealed class ChildProcessClient : IBenchClient
{
    /// <summary>The prefix of a result line; anything else the child prints is passed through.</summary>
    public const string ResultPrefix = "result ";

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private readonly Process _process;
    private readonly string _kind;

    private ChildProcessClient(string kind, Process process)
    {
        Name = InProcessClient.DisplayName(kind);
        _kind = kind;
        _process = process;
    }

    public string Name { get; }

    /// <inheritdoc/>
    public bool Runs(Scenario scenario) => InProcessClient.RunsScenario(_kind, scenario);

    /// <summary>
    /// Starts the child for <paramref name="kind"/> with <paramref name="launcher"/> (taskset and its
    /// arguments, or nothing) and the given environment; with <paramref name="allocationProfile"/>
    /// it prints what it allocated, by type, when it ends.
    /// </summary>
    public static ChildProcessClient Start(string kind, IReadOnlyList<string> launcher, IReadOnlyDictionary<string, string> environment, bool allocationProfile = false)
    {
        // Under `dotnet Loop.Benchmarks.dll` the process path is the host; from the apphost it is the program itself.
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("The runner's own path is unknown.");
        var command = new List<string>(launcher) { self };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            command.Add(typeof(ChildProcessClient).Assembly.Location);
        }

        command.AddRange(["bench-client", "--client", kind]);
        if (allocationProfile)
        {
            command.Add("--alloc-profile");
        }

        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException($"{kind}: the child process did not start.");
        ProcessGuard.Track(process);
        return new ChildProcessClient(kind, process);
    }

    public Measurement Run(RunSpec spec)
    {
        if (_process.HasExited)
        {
            return Measurement.Failed(Name, spec.Scenario, spec.Repetition, $"the child process exited ({_process.ExitCode})");
        }

        _process.StandardInput.WriteLine(JsonSerializer.Serialize(spec, s_json));
        _process.StandardInput.Flush();
        TimeSpan limit = spec.Warmup + spec.Duration + TimeSpan.FromMinutes(3);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            Task<string?> read = _process.StandardOutput.ReadLineAsync();
            // The runner's own thread: a bounded wait for a line from the child.
            if (!read.Wait(limit - clock.Elapsed))
            {
                break;
            }

            string? line = read.Result;
            if (line is null)
            {
                return Measurement.Failed(Name, spec.Scenario, spec.Repetition, "the child process ended without a result");
            }

            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                return Measurement.FromJson(line[ResultPrefix.Length..]);
            }

            Console.WriteLine($"  [{Name}] {line}");
        }

        Dispose();
        return Measurement.Failed(Name, spec.Scenario, spec.Repetition, "no result in time; the child was stopped");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
            catch (IOException)
            {
                // The pipe broke because the child is already gone: nothing is left to stop.
            }
        }

        _process.Dispose();
    }

    /// <summary>
    /// The child's side (<c>bench-client --client KIND</c>): reads <see cref="RunSpec"/> lines
    /// until its standard input closes, and answers each with a result line. With
    /// <c>--alloc-profile</c> it then prints the types it allocated (sampled) to standard error.
    /// </summary>
    public static int Serve(string[] args)
    {
        int i = Array.IndexOf(args, "--client");
        if (i < 0 || i + 1 >= args.Length || !InProcessClient.Kinds.Contains(args[i + 1]))
        {
            Console.Error.WriteLine($"bench-client needs --client {string.Join('|', InProcessClient.Kinds)}");
            return 2;
        }

        using var client = new InProcessClient(args[i + 1]);
        using AllocationSampler? sampler = args.Contains("--alloc-profile") ? new AllocationSampler() : null;
        sampler?.Start();
        while (Console.In.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            RunSpec spec = JsonSerializer.Deserialize<RunSpec>(line, s_json) ?? throw new FormatException("An empty run line.");
            Console.Out.WriteLine(ResultPrefix + client.Run(spec).ToJson());
            Console.Out.Flush();
        }

        if (sampler is not null)
        {
            Console.Error.WriteLine($"What {client.Name} allocated, sampled by type:");
            sampler.Print(Console.Error);
        }

        return 0;
    }
}
