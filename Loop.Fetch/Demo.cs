using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using Loop;
using Loop.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using HttpRequest = Loop.Http.HttpRequest;
using HttpResponse = Loop.Http.HttpResponse;

namespace Loop.Fetch;

/// <summary>
/// What <c>loop-fetch</c> does with no arguments at all (and so <c>make run</c>): a server inside
/// the process, a handful of URLs fetched concurrently on one loop with each client, and a table.
/// </summary>
internal static class Demo
{
    /// <summary>The main job of <c>make run</c>: everything on 127.0.0.1, nothing from the internet.</summary>
    public static int Run()
    {
        WebApplication server = StartServer(out int port);
        try
        {
            string Url(string path) => $"http://127.0.0.1:{port}{path}";
            string[] paths = ["/small", "/large", "/gzip", "/chunked", "/redirect", "/missing"];
            using var loop = new IOLoop();
            var clients = new List<AsyncHttpClient> { new SimpleAsyncHttpClient(loop, new AsyncHttpClientSettings()) };
            try
            {
                clients.Add(new Loop.Curl.CurlAsyncHttpClient(loop, new AsyncHttpClientSettings()));
            }
            catch (Loop.Curl.CurlUnavailableException e)
            {
                Console.WriteLine($"(The curl client is left out: {e.Message})");
            }

            Console.WriteLine($"Kestrel is serving on 127.0.0.1:{port}; fetching {paths.Length} URLs with each of {clients.Count} clients, all at once on one IOLoop.");
            Console.WriteLine();
            var rows = loop.RunSync(async () =>
            {
                var fetches = clients.SelectMany(client => paths.Select(async path =>
                {
                    long started = Stopwatch.GetTimestamp();
                    HttpResponse response = await client.FetchAsync(Url(path), raiseError: false);
                    return (Path: path, Response: response, Time: Stopwatch.GetElapsedTime(started), Client: client.GetType().Name);
                })).ToArray();
                var results = await Task.WhenAll(fetches);
                foreach (AsyncHttpClient client in clients)
                {
                    client.Close();
                }

                return results;
            }, timeout: TimeSpan.FromSeconds(30));

            Console.WriteLine($"{"URL",-36} {"status",-18} {"bytes",9} {"time",9}  client");
            foreach (var row in rows)
            {
                string status = $"{row.Response.Code} {row.Response.Reason}";
                string via = row.Response.EffectiveUrl != Url(row.Path) ? $" (via {new Uri(row.Response.EffectiveUrl).AbsolutePath})" : string.Empty;
                Console.WriteLine($"{Url(row.Path),-36} {status,-18} {row.Response.Body.Length,9:N0} {row.Time.TotalMilliseconds,7:F1}ms  {row.Client}{via}");
            }

            bool ok = rows.Count(row => row.Response.Code == 200) == (paths.Length - 1) * clients.Count && rows.Where(row => row.Path == "/missing").All(row => row.Response.Code == 404);
            Console.WriteLine();
            Console.WriteLine(ok ? "All as expected (the 404 included)." : "Something was not as expected.");
            return ok ? 0 : 1;
        }
        finally
        {
            // Main's own thread, after the loop has finished: blocking here holds up nothing.
            server.StopAsync().GetAwaiter().GetResult(); // Main's thread, no loop running.
            ((IAsyncDisposable)server).DisposeAsync().AsTask().GetAwaiter().GetResult(); // Likewise.
        }
    }

    private static WebApplication StartServer(out int port)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        byte[] large = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("All work and no play makes Jack a dull boy.\n", 24_000)));
        byte[] gzipped = Gzip(large);
        app.Run(async context =>
        {
            Microsoft.AspNetCore.Http.HttpResponse response = context.Response;
            switch (context.Request.Path.Value)
            {
                case "/small":
                    await response.WriteAsync("Hello from Kestrel!\n");
                    break;
                case "/large":
                    response.ContentLength = large.Length;
                    await response.Body.WriteAsync(large);
                    break;
                case "/gzip":
                    if (context.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.Ordinal))
                    {
                        response.Headers.ContentEncoding = "gzip";
                        response.ContentLength = gzipped.Length;
                        await response.Body.WriteAsync(gzipped);
                    }
                    else
                    {
                        await response.Body.WriteAsync(large);
                    }

                    break;
                case "/chunked":
                    for (int i = 0; i < 5; i++)
                    {
                        await response.WriteAsync($"chunk {i}\n");
                        await response.Body.FlushAsync();
                    }

                    break;
                case "/redirect":
                    response.Redirect("/small");
                    break;
                default:
                    response.StatusCode = 404;
                    await response.WriteAsync("Not found\n");
                    break;
            }
        });
        app.StartAsync().GetAwaiter().GetResult(); // Main's thread, before any loop runs.
        port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return app;
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
}
