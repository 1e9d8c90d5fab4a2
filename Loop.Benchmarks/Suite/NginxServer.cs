using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// The server of the comparison: nginx with one worker, started from a configuration the runner
/// writes into its work directory (nothing outside it is read or written), serving 13 bytes at
/// <c>/small</c> and 1 MiB from a file at <c>/large</c>, keep-alive without a request limit, no
/// access log, room for more than 10,000 connections. <see cref="Dispose"/> stops it, and
/// <see cref="ProcessGuard"/> stops it if the runner is interrupted.
/// </summary>
internal sealed partial class NginxServer : IDisposable
{
    private readonly Process _process;

    private readonly int _port;
    private readonly bool _status;

    private NginxServer(Process process, int port, string version, string directory, bool status)
    {
        _process = process;
        _port = port;
        BaseUrl = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
        Version = version;
        Directory = directory;
        _status = status;
    }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public string BaseUrl { get; }

    /// <summary>What <c>nginx -v</c> says, e.g. <c>nginx/1.22.1</c>.</summary>
    public string Version { get; }

    /// <summary>The directory holding its configuration, files, pid and error log.</summary>
    public string Directory { get; }

    /// <summary>The nginx program: on the PATH, or where Debian puts it (/usr/sbin is not on a user's PATH).</summary>
    public static string? Find() => Tools.Find("nginx") ?? (File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);

    /// <summary>Writes the configuration and bodies into <paramref name="workDirectory"/> and starts nginx under <paramref name="launcher"/>.</summary>
    public static NginxServer Start(string nginx, string workDirectory, IReadOnlyList<string> launcher)
    {
        string directory = Path.Combine(workDirectory, "nginx");
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "www"));
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "temp"));
        byte[] large = new byte[Scenario.LargeBody];
        new Random(13).NextBytes(large);
        string largeFile = Path.Combine(directory, "www", "large.bin");
        File.WriteAllBytes(largeFile, large);
        int port = FreePort();
        string config = Path.Combine(directory, "nginx.conf");
        // stub_status counts accepted connections; it is in Debian's builds, but not in every nginx.
        bool status = Tools.Capture(nginx, ["-V"], TimeSpan.FromSeconds(10)).Output.Contains("http_stub_status_module", StringComparison.Ordinal);
        // As many descriptors as the runner may have (nginx cannot raise its hard limit in every container).
        long files = Math.Min(65_536, FileLimit.Current() ?? 65_536);
        File.WriteAllText(config, Configuration(directory, port, status, files));
        if (!OperatingSystem.IsWindows())
        {
            // nginx's worker runs as 'nobody' when started by root: it must be able to read the files.
            const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
            File.SetUnixFileMode(workDirectory, Open);
            File.SetUnixFileMode(directory, Open);
            File.SetUnixFileMode(Path.Combine(directory, "www"), Open);
            File.SetUnixFileMode(largeFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        string version = Tools.FirstLineOf(nginx, "-v").Replace("nginx version: ", string.Empty, StringComparison.Ordinal);
        var start = new ProcessStartInfo(launcher.Count > 0 ? launcher[0] : nginx) { UseShellExecute = false, RedirectStandardError = false };
        foreach (string argument in launcher.Skip(1).Concat(launcher.Count > 0 ? [nginx] : []))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (string argument in new[] { "-p", directory + "/", "-c", config, "-e", Path.Combine(directory, "error.log") })
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("nginx did not start.");
        ProcessGuard.Track(process);
        var server = new NginxServer(process, port, version, directory, status);
        try
        {
            server.WaitUntilListening(port, TimeSpan.FromSeconds(15));
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return server;
    }

    /// <summary>Stops nginx: SIGTERM to the master, which stops its worker and reaps it; SIGKILL to both if that takes more than a few seconds.</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            if (OperatingSystem.IsWindows() || kill(_process.Id, SigTerm) != 0 || !_process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }

        _process.Dispose();
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>
    /// The connections nginx has accepted so far (stub_status), the one this question takes
    /// included; null when the module is missing or the answer cannot be read.
    /// </summary>
    public long? AcceptedConnections()
    {
        if (!_status)
        {
            return null;
        }

        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.ReceiveTimeout = 5000;
            socket.Connect(IPAddress.Loopback, _port);
            socket.Send("GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"u8);
            var answer = new StringBuilder();
            byte[] buffer = new byte[1024];
            int read;
            while ((read = socket.Receive(buffer)) > 0)
            {
                answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            // "server accepts handled requests" and then the three numbers on the next line.
            string[] lines = answer.ToString().Split('\n', StringSplitOptions.TrimEntries);
            int heading = Array.FindIndex(lines, l => l.StartsWith("server accepts", StringComparison.Ordinal));
            return heading >= 0 && heading + 1 < lines.Length && long.TryParse(lines[heading + 1].Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out long accepts)
                ? accepts
                : null;
        }
        catch (SocketException)
        {
            // No count this time: the report shows none rather than a wrong one.
            return null;
        }
    }

    private static string Configuration(string directory, int port, bool status, long files)
    {
        string temp = Path.Combine(directory, "temp");
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $$"""
            # Written by Loop.Benchmarks (the benchmark suite); nginx is started and stopped by it.
            daemon off;
            master_process on;
            worker_processes 1;
            worker_rlimit_nofile {{files}};
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;

            events {
                worker_connections {{Math.Min(20_000, files - 256)}};
            }

            http {
                access_log off;
                keepalive_requests 1000000000;
                keepalive_timeout 300s;
                sendfile on;
                tcp_nodelay on;
                client_body_temp_path {{temp}}/body;
                proxy_temp_path {{temp}}/proxy;
                fastcgi_temp_path {{temp}}/fastcgi;
                uwsgi_temp_path {{temp}}/uwsgi;
                scgi_temp_path {{temp}}/scgi;

                server {
                    listen 127.0.0.1:{{port}} backlog=65535;
                    location = /small {
                        default_type text/plain;
                        return 200 "Hello, world!";
                    }
                    location = /large {
                        default_type application/octet-stream;
                        alias {{directory}}/www/large.bin;
                    }
                    {{(status ? "location = /status { stub_status; }" : string.Empty)}}
                }
            }

            """);
        return text.ToString();
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private void WaitUntilListening(int port, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"nginx exited with {_process.ExitCode}; see {Path.Combine(Directory, "error.log")}.");
            }

            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                // Not listening yet: a startup takes a few milliseconds; try again shortly.
                Thread.Sleep(20);
            }
        }

        throw new TimeoutException($"nginx did not listen on port {port} within {limit.TotalSeconds:F0} s.");
    }
}
