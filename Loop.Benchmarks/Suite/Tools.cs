using System.Diagnostics;

namespace Loop.Benchmarks.Suite;

/// <summary>Finding programs and asking them their version.</summary>
internal static class Tools
{
    /// <summary>The full path of <paramref name="name"/> on the PATH, or null.</summary>
    public static string? Find(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The first non-empty line <paramref name="program"/> prints (standard output, else standard error), or "unknown".</summary>
    public static string FirstLineOf(string program, params string[] arguments)
    {
        (int _, string output) = Capture(program, arguments, TimeSpan.FromSeconds(10));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "unknown";
    }

    /// <summary>Runs a short command and returns its exit code and everything it printed (standard output, then standard error).</summary>
    public static (int ExitCode, string Output) Capture(string program, IReadOnlyList<string> arguments, TimeSpan limit, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> errors = process.StandardError.ReadToEndAsync();
            // The runner's own thread; a bounded wait for a short command.
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"{program} did not finish in {limit.TotalSeconds:F0} s");
            }

            return (process.ExitCode, output.Result + errors.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
