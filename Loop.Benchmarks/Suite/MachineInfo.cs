using System.Runtime.InteropServices;
using Loop.Curl;

namespace Loop.Benchmarks.Suite;

/// <summary>What the results were measured on, for the report.</summary>
internal static class MachineInfo
{
    /// <summary>CPU, cores, kernel and OS, .NET, libcurl and the load at the start.</summary>
    public static List<(string Name, string Value)> Describe()
    {
        var lines = new List<(string, string)>
        {
            ("CPU", CpuModel()),
            ("Cores", Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Kernel", $"{ReadFirstLine("/proc/sys/kernel/osrelease") ?? RuntimeInformation.OSDescription} ({OsName()})"),
            (".NET", RuntimeInformation.FrameworkDescription),
            ("libcurl (curl client)", CurlVersion()),
        };
        if (ReadFirstLine("/proc/loadavg") is { } load)
        {
            lines.Add(("Load average at start (1, 5, 15 min)", string.Join(", ", load.Split(' ').Take(3))));
        }

        return lines;
    }

    private static string CpuModel()
    {
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is int colon and > 0)
                {
                    return line[(colon + 1)..].Trim();
                }
            }
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string OsName()
    {
        if (File.Exists("/etc/os-release"))
        {
            foreach (string line in File.ReadLines("/etc/os-release"))
            {
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                {
                    return line["PRETTY_NAME=".Length..].Trim('"');
                }
            }
        }

        return RuntimeInformation.OSDescription;
    }

    private static string CurlVersion()
    {
        try
        {
            return CurlAsyncHttpClient.CurlVersion;
        }
        catch (CurlUnavailableException e)
        {
            return $"unavailable ({e.Message})";
        }
    }

    private static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;
}
