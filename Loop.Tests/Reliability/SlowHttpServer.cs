using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Reliability;

/// <summary>
/// Kestrel on 127.0.0.1 with deliberately slow answers, for cancellations that land while the
/// server is thinking or half-way through a body. Started once for the reliability tests and
/// stopped by <see cref="ReliabilityTeardown"/>. The delays are the server's; the tests never sleep.
/// </summary>
public sealed class SlowHttpServer : IAsyncDisposable
{
    private static readonly Lazy<SlowHttpServer> s_shared = new(Start);

    private readonly WebApplication _app;

    private SlowHttpServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public static SlowHttpServer Shared => s_shared.Value;

    public int Port { get; }

    /// <summary>
    /// <c>/slow?ms=N</c>: "ok" after N ms. <c>/drip?parts=N&amp;ms=M&amp;size=S</c>: a body of N×S
    /// bytes (Content-Length), sent in N flushed parts M ms apart. <c>/redirect?url=U</c>: a 302 to U.
    /// </summary>
    public string Url(string pathAndQuery) => $"http://127.0.0.1:{Port}{pathAndQuery}";

    public async ValueTask DisposeAsync()
    {
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

    private static SlowHttpServer Start()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0);
            options.AllowSynchronousIO = false;
        });
        WebApplication app = builder.Build();
        app.Run(HandleAsync);
        app.StartAsync().GetAwaiter().GetResult();
        int port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
        return new SlowHttpServer(app, port);
    }

    private static async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        int Query(string name, int fallback) => request.Query.TryGetValue(name, out var value) ? int.Parse(value.ToString(), System.Globalization.CultureInfo.InvariantCulture) : fallback;
        CancellationToken aborted = context.RequestAborted;
        try
        {
            switch (request.Path.Value)
            {
                case "/slow":
                    await Task.Delay(Query("ms", 10), aborted);
                    response.ContentLength = 2;
                    await response.WriteAsync("ok", aborted);
                    return;

                case "/drip":
                    {
                        int parts = Query("parts", 4);
                        int size = Query("size", 512);
                        int delay = Query("ms", 2);
                        response.ContentLength = (long)parts * size;
                        byte[] part = new byte[size];
                        Array.Fill(part, (byte)'d');
                        for (int i = 0; i < parts; i++)
                        {
                            if (i > 0 && delay > 0)
                            {
                                await Task.Delay(delay, aborted);
                            }

                            await response.Body.WriteAsync(part, aborted);
                            await response.Body.FlushAsync(aborted);
                        }

                        return;
                    }

                case "/redirect":
                    response.StatusCode = 302;
                    response.Headers.Location = request.Query["url"].ToString();
                    return;

                default:
                    response.StatusCode = 404;
                    return;
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client cancelled its fetch and went away: what the storms provoke.
        }
    }
}
