using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Loop.Tests.Support;

namespace Loop.Tests.Fetch;

/// <summary>
/// The progress line end to end: drawn on a terminal (stderr on a pseudo-terminal made by
/// util-linux's <c>script</c>) for a transfer that lasts more than a second, and erased at the
/// end; never written when stderr is a pipe, with <c>--json</c>, or while the body goes to the
/// terminal too.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[CancelAfter(30_000)]
public sealed partial class FetchProgressTests
{
    private const int Half = 256 * 1024;

    [Test]
    public async Task Progress_StderrIsATerminal_DrawnThenErased()
    {
        string output = Path.Combine(Path.GetTempPath(), $"loop-fetch-test-{Guid.NewGuid():N}.bin");
        var terminal = new TerminalOutput();

        // The server sends half the body, then the rest only once the line is on the terminal.
        using RawHttpServer server = HalfThenWhen(() => terminal.Text.Contains("B/s", StringComparison.Ordinal));
        try
        {
            int exitCode = await RunOnTerminalAsync(terminal, "-o", output, server.Url("/"));

            string text = terminal.Text;
            Assert.That(exitCode, Is.Zero, text);
            Assert.That(text, Does.Match(@"\r 50% \[##########\.{10}\] 256\.0 KiB / 512\.0 KiB  [\d.]+ [KM]?i?B/s  ETA \d+:\d\d"));
            Assert.That(ErasedAtTheEnd().IsMatch(text), Is.True, text);
            Assert.That(new FileInfo(output).Length, Is.EqualTo(2 * Half));
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Test]
    public async Task Progress_Json_NothingButTheJsonOnTheTerminal()
    {
        var terminal = new TerminalOutput();
        using RawHttpServer server = HalfThenWhen(PastTheThreshold());

        int exitCode = await RunOnTerminalAsync(terminal, "--json", server.Url("/"));

        string text = terminal.Text;
        Assert.That(exitCode, Is.Zero, text);
        Assert.That(text, Does.StartWith("{\"url\":").And.Not.Contain("B/s"));
        Assert.That(text.TrimEnd('\r', '\n'), Does.Not.Contain("\r").And.Not.Contain("\n"));
    }

    [Test]
    public async Task Progress_BodyGoesToTheTerminal_NotDrawn()
    {
        var terminal = new TerminalOutput();
        using RawHttpServer server = HalfThenWhen(PastTheThreshold());

        int exitCode = await RunOnTerminalAsync(terminal, server.Url("/"));

        string text = terminal.Text;
        Assert.That(exitCode, Is.Zero);
        Assert.That(text, Does.Not.Contain("B/s"));
        Assert.That(text.Count(c => c == 'x'), Is.EqualTo(2 * Half));
    }

    [Test]
    public async Task Progress_StderrIsAPipe_NothingWritten()
    {
        using RawHttpServer server = HalfThenWhen(PastTheThreshold());

        FetchResult result = await FetchProcess.RunAsync("--print_body=false", server.Url("/"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stderr, Is.Empty);
    }

    /// <summary>A condition that becomes true 1.5 s after the first half was sent: past the second the line waits for.</summary>
    private static Func<bool> PastTheThreshold()
    {
        // Here the point is that nothing appears even after a second; that can only be seen by
        // letting more than a second pass.
        Stopwatch? since = null;
        return () => (since ??= Stopwatch.StartNew()).Elapsed > TimeSpan.FromSeconds(1.5);
    }

    /// <summary>A server that sends a 512 KiB body's first half, then the second once <paramref name="condition"/> holds (checked every 20 ms, for 10 s at most).</summary>
    private static RawHttpServer HalfThenWhen(Func<bool> condition) => RawHttpServer.Start(async connection =>
    {
        await connection.ReadRequestAsync();
        await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {2 * Half}\r\n\r\n");
        byte[] half = new byte[Half];
        Array.Fill(half, (byte)'x');
        await connection.WriteAsync(half);
        var deadline = Stopwatch.StartNew();
        while (!condition() && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20); // the deliberately slow server polls the test's condition, within the deadline above
        }

        await connection.WriteAsync(half);
    });

    /// <summary>Runs loop-fetch under <c>script</c>, so that its stdout and stderr are a terminal whose output lands in <paramref name="terminal"/>.</summary>
    private static async Task<int> RunOnTerminalAsync(TerminalOutput terminal, params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        string command = string.Join(' ', new[] { dotnet, FetchProcess.DllPath }.Concat(args).Select(arg => $"'{arg}'"));
        var start = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "-qec", command, "/dev/null" })
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        try
        {
            process.StandardInput.Close();
            Task reading = terminal.ReadAsync(process.StandardOutput.BaseStream);
            using var deadline = new CancellationTokenSource(FetchProcess.Deadline);
            await process.WaitForExitAsync(deadline.Token);
            await reading.WaitAsync(deadline.Token);
            return process.ExitCode;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    // The last thing on the terminal: the line overwritten with spaces, the cursor back at its start.
    [GeneratedRegex(@"\r +\r$")]
    private static partial Regex ErasedAtTheEnd();

    [GeneratedRegex(@"\x1b(\[[?0-9;]*[A-Za-z]|[=>])")]
    private static partial Regex EscapeSequence();

    /// <summary>What a terminal received so far (Latin-1), readable while it is being written.</summary>
    private sealed class TerminalOutput
    {
        private readonly StringBuilder _text = new();

        /// <summary>The text, without the escape sequences .NET writes to a terminal it starts on (keypad mode).</summary>
        public string Text
        {
            get
            {
                lock (_text)
                {
                    return EscapeSequence().Replace(_text.ToString(), string.Empty);
                }
            }
        }

        public async Task ReadAsync(Stream stream)
        {
            var buffer = new byte[4096];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                lock (_text)
                {
                    _text.Append(Encoding.Latin1.GetString(buffer, 0, read));
                }
            }
        }
    }
}
