using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Support;

/// <summary>
/// Kestrel in the test process, on two loopback ports (so a redirect from one to the other
/// crosses origins), with the handlers of Tornado's httpclient tests. Started once for the run.
/// </summary>
public sealed class TestHttpServer : IAsyncDisposable
{
    private static readonly Lazy<TestHttpServer> s_shared = new(Start);
    private static readonly byte[] s_bomb = Gzip(new byte[32 * 1024 * 1024]);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<TaskCompletionSource> _parked = new();
    private readonly SemaphoreSlim _arrivals = new(0);
    private readonly ConcurrentDictionary<string, int> _connections = new();

    private TestHttpServer(WebApplication app, int port, int otherPort, int httpsPort)
    {
        _app = app;
        Port = port;
        OtherPort = otherPort;
        HttpsPort = httpsPort;
    }

    public static TestHttpServer Shared => s_shared.Value;

    public int Port { get; }

    /// <summary>A second port of the same server: another origin.</summary>
    public int OtherPort { get; }

    /// <summary>A third port, speaking TLS with <see cref="TestCertificates.Server"/> (the test CA's, for localhost and 127.0.0.1).</summary>
    public int HttpsPort { get; }

    /// <summary>Requests waiting in <c>/trigger</c>.</summary>
    public int ParkedCount => _parked.Count;

    public string Url(string pathAndQuery) => $"http://127.0.0.1:{Port}{pathAndQuery}";

    public string OtherUrl(string pathAndQuery) => $"http://127.0.0.1:{OtherPort}{pathAndQuery}";

    public string HttpsUrl(string pathAndQuery) => $"https://localhost:{HttpsPort}{pathAndQuery}";

    /// <summary>Waits until one more request has parked in <c>/trigger</c>, then releases the oldest.</summary>
    public async Task ReleaseNextAsync()
    {
        // Each arrival has its gate in the queue; a gate already open belongs to a request whose
        // client went away (an earlier test): skip it with its arrival.
        while (true)
        {
            if (!await _arrivals.WaitAsync(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException("No request reached /trigger.");
            }

            Assert.That(_parked.TryDequeue(out TaskCompletionSource? gate), Is.True);
            if (gate!.TrySetResult())
            {
                return;
            }
        }
    }

    /// <summary>Releases the oldest request parked in <c>/trigger</c>; false if none is.</summary>
    public bool ReleaseOne()
    {
        if (_parked.TryDequeue(out TaskCompletionSource? gate))
        {
            gate.TrySetResult();
            return true;
        }

        return false;
    }

    /// <summary>How many distinct connections have carried requests with this tag (the <c>X-Tag</c> header).</summary>
    public int ConnectionsFor(string tag) => _connections.Count(pair => pair.Key.StartsWith(tag + "|", StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        while (ReleaseOne())
        {
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal static void StopShared()
    {
        if (s_shared.IsValueCreated)
        {
            s_shared.Value.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static TestHttpServer Start()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0);
            options.Listen(IPAddress.Loopback, 0);
            options.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(TestCertificates.Server));
            options.AllowSynchronousIO = false;
            options.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(5);
        });
        WebApplication app = builder.Build();
        TestHttpServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        app.StartAsync().GetAwaiter().GetResult();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(address => new Uri(address)).ToList();
        int[] ports = addresses.Where(uri => uri.Scheme == "http").Select(uri => uri.Port).ToArray();
        server = new TestHttpServer(app, ports[0], ports[1], addresses.Single(uri => uri.Scheme == "https").Port);
        return server;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private static bool DigestResponseIsValid(HttpRequest request, string user, string password)
    {
        string header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Digest ", StringComparison.Ordinal))
        {
            return false;
        }

        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Text.RegularExpressions.Match match in System.Text.RegularExpressions.Regex.Matches(header[7..], "(\\w+)=(?:\"([^\"]*)\"|([^,\\s]*))"))
        {
            fields[match.Groups[1].Value] = match.Groups[2].Success ? match.Groups[2].Value : match.Groups[3].Value;
        }

        static string Md5(string text) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
        if (fields.GetValueOrDefault("username") != user || fields.GetValueOrDefault("realm") != "test" || fields.GetValueOrDefault("nonce") != "1234"
            || fields.GetValueOrDefault("opaque") != "asdf" || fields.GetValueOrDefault("uri") is not { } uri)
        {
            return false;
        }

        string ha1 = Md5($"{user}:test:{password}");
        string ha2 = Md5($"{request.Method}:{uri}");
        string expected = fields.TryGetValue("qop", out string? qop) && qop == "auth"
            ? Md5($"{ha1}:1234:{fields.GetValueOrDefault("nc")}:{fields.GetValueOrDefault("cnonce")}:auth:{ha2}")
            : Md5($"{ha1}:1234:{ha2}");
        return fields.GetValueOrDefault("response") == expected;
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        if (request.Headers.TryGetValue("X-Tag", out var tag))
        {
            _connections.TryAdd($"{tag}|{context.Connection.Id}", 0);
        }

        string path = request.Path.Value ?? "/";
        string query(string name, string fallback = "") => request.Query.TryGetValue(name, out var value) ? value.ToString() : fallback;
        switch (path)
        {
            case "/hello":
                response.ContentType = "text/plain";
                await response.WriteAsync($"Hello {query("name", "world")}!");
                return;

            case "/post":
                {
                    IFormCollection form = await request.ReadFormAsync();
                    await response.WriteAsync($"Post arg1: {form["arg1"]}, arg2: {form["arg2"]}");
                    return;
                }

            case "/chunk":
                await response.WriteAsync("asdf");
                await response.Body.FlushAsync();
                await response.WriteAsync("qwer");
                return;

            case "/auth":
                await response.WriteAsync(request.Headers.Authorization.ToString());
                return;

            case "/protocol":
                await response.WriteAsync(request.Protocol);
                return;

            case "/user_agent":
                await response.WriteAsync(request.Headers.UserAgent.ToString());
                return;

            case "/echo_header":
                await response.WriteAsync(request.Headers[query("name")].ToString());
                return;

            case "/echopost":
                await request.Body.CopyToAsync(response.Body);
                return;

            case "/all_methods":
                response.Headers["method"] = request.Method;
                if (request.Method != "HEAD")
                {
                    await response.WriteAsync(request.Method);
                }

                return;

            case "/put":
                {
                    using var reader = new StreamReader(request.Body);
                    await response.WriteAsync("Put body: " + await reader.ReadToEndAsync());
                    return;
                }

            case "/redirect":
                response.StatusCode = int.Parse(query("status", "302"));
                response.Headers.Location = query("url");
                if (query("endless", "0") == "1")
                {
                    // A body without a length that never ends (until the client goes away).
                    byte[] block = new byte[16 * 1024];
                    Array.Fill(block, (byte)'z');
                    while (!request.HttpContext.RequestAborted.IsCancellationRequested)
                    {
                        await response.Body.WriteAsync(block, request.HttpContext.RequestAborted);
                    }
                }

                return;

            case "/see_other_post":
                {
                    using var reader = new StreamReader(request.Body);
                    string status = await reader.ReadToEndAsync();
                    response.StatusCode = status == "303" ? 303 : 302;
                    response.Headers.Location = "/see_other_get";
                    return;
                }

            case "/see_other_get":
                {
                    using var reader = new StreamReader(request.Body);
                    string body = await reader.ReadToEndAsync();
                    if (request.Method != "GET" || body.Length > 0)
                    {
                        response.StatusCode = 400;
                    }

                    await response.WriteAsync("ok");
                    return;
                }

            case "/gzip":
                {
                    byte[] gz = Gzip("asdfqwer"u8.ToArray());
                    response.Headers.ContentEncoding = "gzip";
                    response.ContentLength = gz.Length;
                    await response.Body.WriteAsync(gz);
                    return;
                }

            case "/invalid_gzip":
                {
                    // Tornado's InvalidGzipHandler: a valid gzip member of about 150 KB, then one byte of junk.
                    var text = new StringBuilder();
                    for (int i = 0; i < 10000; i++)
                    {
                        text.Append("Hello World ").Append(i).Append('\n');
                    }

                    byte[] gz = [.. Gzip(Encoding.UTF8.GetBytes(text.ToString())), 0x00];
                    response.Headers.ContentEncoding = "gzip";
                    response.ContentLength = gz.Length;
                    await response.Body.WriteAsync(gz);
                    return;
                }

            case "/bomb":
                response.Headers.ContentEncoding = "gzip";
                response.ContentLength = s_bomb.Length;
                await response.Body.WriteAsync(s_bomb);
                return;

            case "/no_content":
                response.StatusCode = 204;
                return;

            case "/304_with_content_length":
                response.StatusCode = 304;
                response.ContentLength = 42;
                return;

            case "/head":
                response.ContentLength = 7;
                if (request.Method != "HEAD")
                {
                    await response.WriteAsync("1234567");
                }

                return;

            case "/large":
                {
                    int size = int.Parse(query("size", "100000"));
                    response.ContentLength = size;
                    byte[] block = new byte[Math.Min(size, 65536)];
                    Array.Fill(block, (byte)'a');
                    for (int left = size; left > 0; left -= block.Length)
                    {
                        await response.Body.WriteAsync(block.AsMemory(0, Math.Min(left, block.Length)));
                    }

                    return;
                }

            case "/trigger":
                {
                    var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _parked.Enqueue(gate);
                    _arrivals.Release();
                    using (context.RequestAborted.Register(() => gate.TrySetResult()))
                    {
                        await gate.Task;
                    }

                    await response.WriteAsync("ok");
                    return;
                }

            case "/hang":
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }

                return;

            case "/digest":
                // Tornado's DigestAuthHandler: realm "test", nonce "1234", opaque "asdf"; the
                // response hash is checked (RFC 2617 without qop) for user "foo", password "bar".
                if (DigestResponseIsValid(request, "foo", "bar"))
                {
                    await response.WriteAsync("ok");
                }
                else
                {
                    response.StatusCode = 401;
                    response.Headers.WWWAuthenticate = "Digest realm=\"test\", nonce=\"1234\", opaque=\"asdf\"";
                    await response.WriteAsync("denied");
                }

                return;

            case "/close":
                response.Headers.Connection = "close";
                await response.WriteAsync("bye");
                return;

            case "/set_cookie":
                response.Headers.Append("Set-Cookie", "a=1; Path=/");
                response.Headers.Append("Set-Cookie", "b=2, c=3");
                await response.WriteAsync("ok");
                return;

            default:
                if (path.StartsWith("/countdown/", StringComparison.Ordinal))
                {
                    int count = int.Parse(path["/countdown/".Length..]);
                    if (count > 0)
                    {
                        response.StatusCode = 302;
                        response.Headers.Location = $"/countdown/{count - 1}";
                        return;
                    }

                    await response.WriteAsync("Zero");
                    return;
                }

                response.StatusCode = 404;
                await response.WriteAsync("Not found: " + Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(path)));
                return;
        }
    }
}
