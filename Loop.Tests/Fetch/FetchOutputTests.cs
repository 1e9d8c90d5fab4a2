using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Loop.Tests.Support;

namespace Loop.Tests.Fetch;

/// <summary>
/// Where <c>loop-fetch</c>'s output goes and what it holds: bytes exactly as sent (stdout and
/// <c>-o</c>), several URLs in the order given while fetched at once, <c>--json</c>, and a large
/// body streamed with flat memory.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[CancelAfter(30_000)]
public sealed class FetchOutputTests
{
    private static readonly byte[] s_binary = FetchTests.BinaryBody(100_000);

    private RawHttpServer _server = null!;

    [OneTimeSetUp]
    public void StartServer()
    {
        // /binary: bytes with NUL and CR LF in them; /a, /b, /c: their names; /first: its name,
        // but only once /second and /third have been asked for (the URLs are fetched at once).
        // The query names the round, so that each test case has gates of its own.
        var asked = new System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource>();
        TaskCompletionSource Gate(string key) => asked.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _server = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is { } head)
            {
                string[] target = head.Split(' ')[1].Split('?');
                string path = target[0];
                string round = target.Length > 1 ? target[1] : string.Empty;
                switch (path)
                {
                    case "/binary":
                        await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {s_binary.Length}\r\n\r\n");
                        await connection.WriteAsync(s_binary);
                        break;
                    case "/first":
                        await Task.WhenAll(Gate($"/second?{round}").Task, Gate($"/third?{round}").Task).WaitAsync(TimeSpan.FromSeconds(10));
                        await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n");
                        break;
                    case "/second" or "/third":
                        Gate($"{path}?{round}").TrySetResult();
                        await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {path.Length}\r\n\r\n{path[1..]}\n");
                        break;
                    default:
                        await connection.WriteAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
                        break;
                }
            }
        });
    }

    [OneTimeTearDown]
    public void StopServer() => _server.Dispose();

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task Stdout_BinaryBody_IsWrittenByteForByte(string client)
    {
        FetchResult result = await FetchProcess.RunAsync("--client", client, _server.Url("/binary"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Is.EqualTo(s_binary));
    }

    [TestCase("-o")]
    [TestCase("--output")]
    public async Task Output_BinaryBody_TheFileHoldsExactlyTheBytes(string flag)
    {
        string path = Path.Combine(Path.GetTempPath(), $"loop-fetch-test-{Guid.NewGuid():N}.bin");
        try
        {
            FetchResult result = await FetchProcess.RunAsync(flag, path, _server.Url("/binary"));

            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Stdout, Is.Empty);
            Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(s_binary));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task SeveralUrls_FetchedAtOnce_OutputInTheOrderGiven(string client)
    {
        // /first answers only after /second and /third were asked for: one by one, this would
        // not finish; at once, the first still comes first.
        string round = $"?{client}";
        FetchResult result = await FetchProcess.RunAsync("--client", client, _server.Url("/first" + round), _server.Url("/second" + round), _server.Url("/binary"), _server.Url("/third" + round));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Is.EqualTo([.. "first\nsecond\n"u8, .. s_binary, .. "third\n"u8]));
    }

    [Test]
    public async Task SeveralUrls_ExitCodeIsTheWorst()
    {
        FetchResult result = await FetchProcess.RunAsync("--fail", _server.Url("/missing"), "http://127.0.0.1:1/", _server.Url("/binary"));

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(2));
        Assert.That(result.ErrorLines[0], Is.EqualTo($"loop-fetch: {_server.Url("/missing")}: HTTP 404: Not Found"));
        Assert.That(result.ErrorLines[1], Does.StartWith("loop-fetch: http://127.0.0.1:1/: Could not connect to 127.0.0.1:1"));
        Assert.That(result.Stdout, Is.EqualTo([.. "nope"u8, .. s_binary]));
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task Json_OneObjectPerUrl_WithEveryField(string client)
    {
        FetchResult result = await FetchProcess.RunAsync("--client", client, "--json", _server.Url("/binary"), _server.Url("/missing"), "http://127.0.0.1:1/");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        string[] lines = Encoding.UTF8.GetString(result.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(3));
        using JsonDocument ok = JsonDocument.Parse(lines[0]);
        using JsonDocument missing = JsonDocument.Parse(lines[1]);
        using JsonDocument refused = JsonDocument.Parse(lines[2]);

        JsonElement first = ok.RootElement;
        Assert.That(first.GetProperty("url").GetString(), Is.EqualTo(_server.Url("/binary")));
        Assert.That(first.GetProperty("code").GetInt32(), Is.EqualTo(200));
        Assert.That(first.GetProperty("reason").GetString(), Is.EqualTo("OK"));
        Assert.That(first.GetProperty("version").GetString(), Is.EqualTo("HTTP/1.1"));
        Assert.That(first.GetProperty("headers").GetProperty("Content-Length").GetString(), Is.EqualTo(s_binary.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(first.GetProperty("body_length").GetInt64(), Is.EqualTo(s_binary.Length));
        Assert.That(first.GetProperty("sha256").GetString(), Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(s_binary))));
        Assert.That(first.GetProperty("effective_url").GetString(), Is.EqualTo(_server.Url("/binary")));
        Assert.That(first.GetProperty("request_time").GetDouble(), Is.GreaterThan(0));
        Assert.That(first.GetProperty("time_info").GetProperty("queue").GetDouble(), Is.GreaterThanOrEqualTo(0));
        Assert.That(first.GetProperty("time_info").EnumerateObject().Count(), Is.GreaterThan(1));
        Assert.That(first.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));

        Assert.That(missing.RootElement.GetProperty("code").GetInt32(), Is.EqualTo(404));
        Assert.That(missing.RootElement.GetProperty("body_length").GetInt64(), Is.EqualTo(4));
        Assert.That(missing.RootElement.GetProperty("error").GetString(), Is.EqualTo("HTTP 404: Not Found"));

        Assert.That(refused.RootElement.GetProperty("code").GetInt32(), Is.EqualTo(599));
        Assert.That(refused.RootElement.GetProperty("version").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(refused.RootElement.GetProperty("error").GetString(), Does.StartWith("Could not connect to 127.0.0.1:1"));
    }

    [Test]
    public async Task Json_WithOutput_TheBodyGoesToTheFileOnly()
    {
        string path = Path.Combine(Path.GetTempPath(), $"loop-fetch-test-{Guid.NewGuid():N}.bin");
        try
        {
            FetchResult result = await FetchProcess.RunAsync("--json", "-o", path, _server.Url("/binary"));

            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            using JsonDocument json = JsonDocument.Parse(result.Stdout);
            Assert.That(json.RootElement.GetProperty("body_length").GetInt64(), Is.EqualTo(s_binary.Length));
            Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(s_binary));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task StdoutClosedByTheReader_FetchesStopAndExitThree(string client)
    {
        // 4 GiB announced, sent until the connection goes: only stopping early ends this in time.
        byte[] block = new byte[1024 * 1024];
        using var server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {4L << 30}\r\n\r\n");
            while (true)
            {
                await connection.WriteAsync(block);
            }
        });
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"'{dotnet}' '{FetchProcess.DllPath}' --client {client} '{server.Url("/a")}' '{server.Url("/b")}' | head -c 10 > /dev/null; exit ${{PIPESTATUS[0]}}");
        using var process = System.Diagnostics.Process.Start(start)!;
        try
        {
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(FetchProcess.Deadline);
            await process.WaitForExitAsync(deadline.Token);

            Assert.That(process.ExitCode, Is.EqualTo(3));
            Assert.That(await stderr, Is.EqualTo($"loop-fetch: {server.Url("/a")}: cannot write stdout: Broken pipe\n"));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    // 104 MiB through a Debug build (whose stream buffers are tiny on purpose) while the other
    // fixtures run in parallel: seconds alone, more on a loaded two-core machine.
    [TestCase("simple")]
    [TestCase("curl")]
    [CancelAfter(150_000)]
    public async Task LargeBody_OverTheClientsDefaultLimit_StreamsWithFlatMemory(string client)
    {
        // 104 MiB: past the clients' default MaxBodySize (100 MiB), which the tool lifts; the
        // body streams through, so the process's peak resident set stays far below the body.
        const int MiB = 1024 * 1024;
        const int size = 104 * MiB;
        byte[] block = new byte[MiB];
        new Random(7).NextBytes(block);
        using var server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            for (int i = 0; i < size / MiB; i++)
            {
                await connection.WriteAsync(block);
            }
        });
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < size / MiB; i++)
        {
            expected.AppendData(block);
        }

        var received = new HashingStream();
        using FetchProcess process = FetchProcess.Start(["--client", client, server.Url("/large")], received);
        long peakKiB = 0;
        Task<int> exit = process.WaitAsync(TimeSpan.FromSeconds(120));
        while (!exit.IsCompleted)
        {
            peakKiB = Math.Max(peakKiB, PeakResidentKiB(process.Process.Id));
            await Task.WhenAny(exit, Task.Delay(20)); // the sampling interval of the peak memory; ends at the process's exit
        }

        Assert.That(await exit, Is.Zero, await process.StderrAsync());
        Assert.That(received.Length, Is.EqualTo(size));
        Assert.That(received.Hash, Is.EqualTo(expected.GetHashAndReset()));
        Assert.That(peakKiB, Is.GreaterThan(0).And.LessThan(120 * 1024), "peak resident set (VmHWM), KiB");
    }

    /// <summary>VmHWM of <paramref name="pid"/> from /proc, in KiB; 0 once the process is gone.</summary>
    private static long PeakResidentKiB(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
            // The process ended between two reads.
        }

        return 0;
    }

    /// <summary>A write-only stream that keeps only the length and SHA-256 of what it is given.</summary>
    private sealed class HashingStream : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public byte[] Hash => _hash.GetHashAndReset();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        private long _length;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _length += buffer.Length;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
