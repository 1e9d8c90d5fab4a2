namespace Loop.Tests.Fetch;

/// <summary>
/// <c>loop-fetch</c>'s command line, run as a process: help and version, and every usage error
/// as exit code 2 with one line on stderr and no stack trace. Nothing here reaches a server.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[CancelAfter(30_000)]
public sealed class FetchCommandLineTests
{
    [TestCase("--help")]
    [TestCase("-h")]
    public async Task Help_LongOrShort_ExitsZeroListingTheOptions(string flag)
    {
        FetchResult result = await FetchProcess.RunAsync(flag);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Contain("Usage:").And.Contain("loop-fetch <URL>..."));
        foreach (string option in new[] { "--print_headers", "--print-body", "--follow_redirects", "--validate-cert", "--proxy_host", "--proxy-port", "--client", "--method", "--header", "--data", "--data-file", "--timeout", "--connect-timeout", "--max-redirects", "--user", "--ca-certs", "--http2", "--output", "--json", "--fail", "--version" })
        {
            Assert.That(result.Output, Does.Contain(option), option);
        }

        Assert.That(result.Output, Does.Contain("Exit codes"));
        Assert.That(result.Stderr, Is.Empty);
    }

    [Test]
    public async Task Version_ExitsZeroWithTheVersion()
    {
        FetchResult result = await FetchProcess.RunAsync("--version");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.Match(@"^\d+\.\d+\.\d+"));
        Assert.That(result.Stderr, Is.Empty);
    }

    [TestCase("--bogus", "unknown option '--bogus'")]
    [TestCase("--print_headerz", "unknown option '--print_headerz'")]
    [TestCase("--proxy_port=abc", "--proxy_port takes a port number")]
    [TestCase("--proxy-port", "abc", "--proxy-port takes a port number")]
    [TestCase("--proxy_port", "70000", "--proxy_port takes a port number")]
    [TestCase("--client=bogus", "--client takes simple or curl, not 'bogus'")]
    [TestCase("--timeout", "soon", "--timeout takes a number of seconds")]
    [TestCase("--connect-timeout=-1", "--connect-timeout takes a number of seconds")]
    [TestCase("--max-redirects", "many", "--max-redirects takes a whole number")]
    [TestCase("-H", "NoColon", "--header takes \"Name: value\"")]
    [TestCase("-H", "Bad Name: x", "--header takes \"Name: value\"")]
    [TestCase("--header", "X-A: 1\r\nX-B: 2", "--header takes \"Name: value\"")]
    [TestCase("-H", "X-A: 1\nX-B: 2", "--header takes \"Name: value\"")]
    [TestCase("-X", "GE T", "--method takes a method name")]
    [TestCase("-u", ":secret", "--user takes user:password")]
    [TestCase("--data-file", "/nonexistent/body.bin", "/nonexistent/body.bin")]
    [TestCase("--ca-certs", "/nonexistent/ca.pem", "/nonexistent/ca.pem")]
    [TestCase("--http2", "--http2 needs --client curl")]
    [TestCase("-d", "x", "--data-file", "/dev/null", "--data and --data-file cannot both be given")]
    public async Task BadCommandLine_ExitsTwoWithOneLine(params string[] argsAndMessage)
    {
        string[] args = [.. argsAndMessage[..^1], "http://127.0.0.1:9/"];
        FetchResult result = await FetchProcess.RunAsync(args);

        AssertUsageError(result, argsAndMessage[^1]);
    }

    [TestCase("ftp://127.0.0.1/file", "'ftp://127.0.0.1/file' is not an http or https URL")]
    [TestCase("127.0.0.1/file", "is not an http or https URL")]
    public async Task NotAnHttpUrl_ExitsTwoWithOneLine(string url, string message)
    {
        AssertUsageError(await FetchProcess.RunAsync(url), message);
    }

    [Test]
    public async Task OptionsWithoutUrl_ExitTwoWithOneLine()
    {
        AssertUsageError(await FetchProcess.RunAsync("--json"), "Required argument 'URL' missing");
    }

    private static void AssertUsageError(FetchResult result, string message)
    {
        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.Stderr);
        Assert.That(result.ErrorLines[0], Does.StartWith("loop-fetch: ").And.Contain(message));
        Assert.That(result.Stderr, Does.Not.Contain(" at ").And.Not.Contain("Exception").And.Not.Contain("(Parameter"));
        Assert.That(result.Stdout, Is.Empty);
    }
}
