using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Tests.Support;

namespace Loop.Tests.Fetch;

/// <summary>
/// <c>loop-fetch</c>'s flags and exit codes end to end: the process against servers on
/// 127.0.0.1 (the shared Kestrel with Tornado's test handlers, raw sockets for what Kestrel
/// would not do).
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
[CancelAfter(30_000)]
public sealed class FetchTests
{
    private static TestHttpServer Server => TestHttpServer.Shared;

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task Fetch_Url_WritesTheBodyAndExitsZero(string client)
    {
        FetchResult result = await FetchProcess.RunAsync("--client", client, Server.Url("/hello"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Hello world!"));
        Assert.That(result.Stderr, Is.Empty);
    }

    [TestCase("--print_headers")]
    [TestCase("--print-headers")]
    [TestCase("--print_headers=TRUE")]
    [TestCase("--print_headers", "true")]
    [TestCase("--print-headers", "YES")]
    public async Task PrintHeaders_AnyTrueSpelling_WritesStatusLineAndHeadersBeforeTheBody(params string[] flag)
    {
        FetchResult result = await FetchProcess.RunAsync([.. flag, Server.Url("/hello")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.StartWith("HTTP/1.1 200 OK\r\n"));
        Assert.That(result.Output, Does.Contain("\r\nContent-Type: text/plain\r\n"));
        Assert.That(result.Output, Does.EndWith("\r\n\r\nHello world!"));
    }

    [TestCase("--print-body=0")]
    [TestCase("--print_body=no")]
    [TestCase("--print_body=f")]
    [TestCase("--print-body", "No")]
    public async Task PrintBody_AnyFalseSpelling_WritesNothing(params string[] flag)
    {
        FetchResult result = await FetchProcess.RunAsync([.. flag, Server.Url("/hello")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Is.Empty);
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task PrintHeaders_Http10Server_ShowsTheVersionTheServerSent(string client)
    {
        using var server = RawHttpServer.Responding("HTTP/1.0 200 Fine\r\nContent-Length: 2\r\nX-Old: yes\r\n\r\nok");

        FetchResult result = await FetchProcess.RunAsync("--client", client, "--print_headers", server.Url("/"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("HTTP/1.0 200 Fine\r\nContent-Length: 2\r\nX-Old: yes\r\n\r\nok"));
    }

    [TestCase("--follow_redirects=false")]
    [TestCase("--follow-redirects=0")]
    [TestCase("--follow_redirects", "f")]
    public async Task FollowRedirects_False_TheRedirectIsTheAnswer(params string[] flag)
    {
        FetchResult result = await FetchProcess.RunAsync([.. flag, "--print_headers", Server.Url("/countdown/1")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.StartWith("HTTP/1.1 302 Found\r\n").And.Contain("Location: /countdown/0"));
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task FollowRedirects_Default_FollowsToTheEndAndPrintsOnlyTheLastHead(string client)
    {
        FetchResult result = await FetchProcess.RunAsync("--client", client, "--print_headers", Server.Url("/countdown/3"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Does.StartWith("HTTP/1.1 200 OK\r\n").And.EndWith("\r\n\r\nZero"));
        Assert.That(result.Output, Does.Not.Contain("302").And.Not.Contain("Location"));
    }

    [TestCase("simple", false, 0)]
    [TestCase("simple", true, 1)]
    [TestCase("curl", true, 1)]
    public async Task MaxRedirects_Exceeded_SaysSoAndExitsOneOnlyWithFail(string client, bool fail, int exitCode)
    {
        string[] args = ["--client", client, "--max-redirects", "2", Server.Url("/countdown/4")];
        FetchResult result = await FetchProcess.RunAsync(fail ? ["--fail", .. args] : args);

        Assert.That(result.ExitCode, Is.EqualTo(exitCode), result.ToString());
        Assert.That(result.ErrorLines, Is.EqualTo(new[] { "loop-fetch: too many redirects (--max-redirects 2); the last answer was HTTP 302: Found" }));
    }

    [Test]
    public async Task MaxRedirects_Enough_FollowsToTheEnd()
    {
        FetchResult result = await FetchProcess.RunAsync("--max-redirects=3", Server.Url("/countdown/3"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Zero"));
    }

    [TestCase("-X", "DELETE")]
    [TestCase("--method", "OPTIONS")]
    [TestCase("--method=PATCH")]
    public async Task Method_IsSent(params string[] flag)
    {
        FetchResult result = await FetchProcess.RunAsync([.. flag, Server.Url("/all_methods")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo(flag[^1].Split('=')[^1]));
    }

    [TestCase("-H")]
    [TestCase("--header")]
    public async Task Header_Repeated_EachIsSent(string flag)
    {
        FetchResult result = await FetchProcess.RunAsync(flag, "X-Other: 1", flag, "X-Test:  forty two", Server.Url("/echo_header?name=X-Test"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("forty two"));
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task Data_IsTheBodyOfAPost(string client)
    {
        FetchResult post = await FetchProcess.RunAsync("--client", client, "-d", "a body, ünïcode", Server.Url("/echopost"));
        FetchResult put = await FetchProcess.RunAsync("--client", client, "-X", "PUT", "--data=abc", Server.Url("/put"));

        Assert.That(post.ExitCode, Is.Zero, post.ToString());
        Assert.That(Encoding.UTF8.GetString(post.Stdout), Is.EqualTo("a body, ünïcode"));
        Assert.That(put.Output, Is.EqualTo("Put body: abc"));
    }

    [Test]
    public async Task DataFile_BinaryBytesAreTheBody()
    {
        byte[] body = BinaryBody(70_000);
        string path = Path.Combine(Path.GetTempPath(), $"loop-fetch-test-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, body);
        try
        {
            FetchResult result = await FetchProcess.RunAsync("--data-file", path, Server.Url("/echopost"));

            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Stdout, Is.EqualTo(body));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCase("-u")]
    [TestCase("--user")]
    public async Task User_SendsBasicAuthorization(string flag)
    {
        FetchResult result = await FetchProcess.RunAsync(flag, "Aladdin:open sesame", Server.Url("/auth"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    }

    [Test]
    public async Task HttpErrorStatus_WithoutFail_ExitsZeroWithTheBody()
    {
        FetchResult result = await FetchProcess.RunAsync(Server.Url("/missing"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Not found: /missing"));
        Assert.That(result.Stderr, Is.Empty);
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task HttpErrorStatus_WithFail_ExitsOneWithOneLine(string client)
    {
        FetchResult result = await FetchProcess.RunAsync("--client", client, "--fail", Server.Url("/missing"));

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Is.EqualTo(new[] { "loop-fetch: HTTP 404: Not Found" }));
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task ConnectionRefused_ExitsThreeWithOneLine(string client)
    {
        int port = UnusedPort();

        FetchResult result = await FetchProcess.RunAsync("--client", client, $"http://127.0.0.1:{port}/");

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1));
        Assert.That(result.ErrorLines[0], Does.StartWith($"loop-fetch: Could not connect to 127.0.0.1:{port}: Connection refused"));
    }

    [TestCase("simple")]
    [TestCase("curl")]
    public async Task Timeout_ServerNeverAnswers_ExitsThreeWithOneLine(string client)
    {
        using var server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            connection.KeepOpen = true;
        });

        FetchResult result = await FetchProcess.RunAsync("--client", client, "--timeout", "0.3", server.Url("/slow"));

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.ErrorLines, Is.EqualTo(new[] { $"loop-fetch: timeout while fetching {server.Url("/slow")}" }));
    }

    [Test]
    public async Task ConnectTimeout_ListenerBacklogFull_ExitsThreeWithOneLine()
    {
        // A listener that accepts nothing, its backlog filled: Linux drops the next SYN, so the
        // connect hangs until the connect timeout.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                fillers.Add(filler);
                try
                {
                    filler.Connect(IPAddress.Loopback, port);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
                {
                    // In progress: the backlog may already be full; that is the point.
                }
            }

            FetchResult result = await FetchProcess.RunAsync("--connect-timeout", "0.5", $"http://127.0.0.1:{port}/");

            Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
            Assert.That(result.ErrorLines, Is.EqualTo(new[] { $"loop-fetch: timeout while connecting to 127.0.0.1:{port}" }));
        }
        finally
        {
            foreach (Socket filler in fillers)
            {
                filler.Dispose();
            }
        }
    }

    [Test]
    public async Task CaCerts_TrustsTheGivenAuthority()
    {
        string pem = TestCertificates.WriteAuthorityPem();
        try
        {
            FetchResult trusted = await FetchProcess.RunAsync("--ca-certs", pem, Server.HttpsUrl("/hello"));
            FetchResult untrusted = await FetchProcess.RunAsync(Server.HttpsUrl("/hello"));

            Assert.That(trusted.ExitCode, Is.Zero, trusted.ToString());
            Assert.That(trusted.Output, Is.EqualTo("Hello world!"));
            Assert.That(untrusted.ExitCode, Is.EqualTo(3), untrusted.ToString());
            Assert.That(untrusted.ErrorLines, Has.Length.EqualTo(1));
        }
        finally
        {
            File.Delete(pem);
        }
    }

    [TestCase("--validate_cert=false")]
    [TestCase("--validate-cert", "no")]
    public async Task ValidateCert_False_AcceptsAnUntrustedServer(params string[] flag)
    {
        FetchResult result = await FetchProcess.RunAsync([.. flag, Server.HttpsUrl("/hello")]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Hello world!"));
    }

    [Test]
    public async Task Http2_CurlClient_SpeaksHttp2OverTls()
    {
        string pem = TestCertificates.WriteAuthorityPem();
        try
        {
            FetchResult result = await FetchProcess.RunAsync("--client", "curl", "--http2", "--ca-certs", pem, "--print_headers", Server.HttpsUrl("/protocol"));

            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Output, Does.StartWith("HTTP/2 200").And.EndWith("\r\n\r\nHTTP/2"));
        }
        finally
        {
            File.Delete(pem);
        }
    }

    [TestCase("--proxy_host", "--proxy_port")]
    [TestCase("--proxy-host", "--proxy-port")]
    public async Task Proxy_BothSpellings_TheRequestGoesThroughIt(string hostFlag, string portFlag)
    {
        using var proxy = TestProxy.Start();

        FetchResult result = await FetchProcess.RunAsync(hostFlag, "127.0.0.1", $"{portFlag}={proxy.Port}", Server.Url("/hello"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Output, Is.EqualTo("Hello world!"));
        Assert.That(proxy.RequestLines, Has.Some.Contain(Server.Url("/hello")));
    }

    internal static byte[] BinaryBody(int size)
    {
        var body = new byte[size];
        new Random(size).NextBytes(body);
        "\0\r\n\r\n\0\n\r"u8.CopyTo(body);
        return body;
    }

    private static int UnusedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
