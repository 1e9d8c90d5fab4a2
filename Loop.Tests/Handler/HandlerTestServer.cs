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

namespace Loop.Tests.Handler;

/// <summary>
/// Kestrel on 127.0.0.1 for the handler tests, started once for them and stopped by
/// <see cref="HandlerTestsTeardown"/>: echo, headers, a counted large body, an endless body, a
/// head held back, a redirect, a gzip body. A request names itself with <c>?id=</c> so that a
/// test can look at what the server saw of it (<see cref="Seen"/>).
/// </summary>
public sealed class HandlerTestServer
{
    private static readonly Lazy<HandlerTestServer> s_shared = new(Start);

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Observed> _seen = new();

    private HandlerTestServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public static HandlerTestServer Shared => s_shared.Value;

    public int Port { get; }

    public string Url(string pathAndQuery) => $"http://127.0.0.1:{Port}{pathAndQuery}";

    /// <summary>What the server saw of the request with <paramref name="id"/> (made on first use, by the test or the server).</summary>
    public Observed Seen(string id) => _seen.GetOrAdd(id, _ => new Observed());

    internal static void StopShared()
    {
        if (s_shared.IsValueCreated)
        {
            s_shared.Value._app.StopAsync().GetAwaiter().GetResult();
            s_shared.Value._app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static HandlerTestServer Start()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0);
            options.AllowSynchronousIO = false;
            options.Limits.MaxRequestBodySize = null;
        });
        WebApplication app = builder.Build();
        HandlerTestServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        app.StartAsync().GetAwaiter().GetResult();
        int port = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(address => new Uri(address).Port).Single();
        server = new HandlerTestServer(app, port);
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        Observed seen = Seen(request.Query["id"].ToString() is { Length: > 0 } id ? id : Guid.NewGuid().ToString());
        seen.Method = request.Method;
        seen.Protocol = request.Protocol;
        seen.Headers = request.Headers.ToDictionary(pair => pair.Key, pair => pair.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        CancellationToken aborted = context.RequestAborted;
        try
        {
            switch (request.Path.Value)
            {
                case "/hello":
                    response.Headers["X-Test"] = "yes";
                    response.Headers["Content-Language"] = "en";
                    response.ContentType = "text/plain; charset=utf-8";
                    await response.WriteAsync("Hello!", aborted);
                    break;
                case "/echo":
                    {
                        // Counts what arrives as it arrives (a test's slow content checks it sees each piece).
                        var body = new MemoryStream();
                        var buffer = new byte[16 * 1024];
                        int n;
                        while ((n = await request.Body.ReadAsync(buffer, aborted)) > 0)
                        {
                            body.Write(buffer, 0, n);
                            Interlocked.Add(ref seen.BytesReceived, n);
                        }

                        response.Headers["X-Method"] = request.Method;
                        response.ContentType = "application/octet-stream";
                        response.ContentLength = body.Length;
                        await response.Body.WriteAsync(body.ToArray(), aborted);
                        break;
                    }

                case "/status":
                    response.StatusCode = int.Parse(request.Query["code"]!, System.Globalization.CultureInfo.InvariantCulture);
                    await response.WriteAsync("status body", aborted);
                    break;
                case "/big":
                    {
                        long size = long.Parse(request.Query["size"]!, System.Globalization.CultureInfo.InvariantCulture);
                        response.ContentLength = size;
                        byte[] chunk = Pattern(16 * 1024);
                        for (long sent = 0; sent < size;)
                        {
                            int n = (int)Math.Min(chunk.Length, size - sent);
                            await response.Body.WriteAsync(chunk.AsMemory(0, n), aborted);
                            sent += n;
                            Interlocked.Add(ref seen.BytesWritten, n);
                        }

                        break;
                    }

                case "/forever":
                    {
                        byte[] chunk = Pattern(16 * 1024);
                        while (true)
                        {
                            await response.Body.WriteAsync(chunk, aborted);
                            await response.Body.FlushAsync(aborted);
                            Interlocked.Add(ref seen.BytesWritten, chunk.Length);
                        }
                    }

                case "/hold":
                    // No head until the client goes away.
                    await Task.Delay(Timeout.Infinite, aborted);
                    break;
                case "/redirect":
                    response.StatusCode = 302;
                    response.Headers.Location = "/hello?id=" + request.Query["id"] + "-target";
                    break;
                case "/gzip":
                    {
                        byte[] gzip = Gzip(Encoding.UTF8.GetBytes("compressed hello"));
                        response.Headers.ContentEncoding = "gzip";
                        response.ContentLength = gzip.Length;
                        await response.Body.WriteAsync(gzip, aborted);
                        break;
                    }

                default:
                    response.StatusCode = 404;
                    break;
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            seen.Aborted.TrySetResult();
        }
        catch (IOException)
        {
            // The client closed the connection as the server wrote.
            seen.Aborted.TrySetResult();
        }
        finally
        {
            seen.Done.TrySetResult();
        }
    }

    /// <summary>The body bytes of <c>/big</c> and <c>/forever</c>: position modulo 251.</summary>
    public static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }

        return bytes;
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

    /// <summary>What the server saw of one request.</summary>
    public sealed class Observed
    {
        public long BytesWritten;
        public long BytesReceived;

        public string? Method { get; set; }

        public string? Protocol { get; set; }

        public Dictionary<string, string> Headers { get; set; } = [];

        /// <summary>Set when the client went away before the response's end.</summary>
        public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set when the server's handler has returned.</summary>
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Stops the handler tests' Kestrel once the tests of this namespace have run.</summary>
[SetUpFixture]
public sealed class HandlerTestsTeardown
{
    [OneTimeTearDown]
    public void StopServer() => HandlerTestServer.StopShared();
}
