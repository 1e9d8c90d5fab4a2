using System.Text;
using Loop.Curl;
using Loop.Http;
using Loop.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Http;

/// <summary>
/// The curl client as it runs without Debug logging (at Debug, every transfer is verbose, which the
/// other fixtures' logs enable): what it allocates per keep-alive request once warm (issue 13 asks
/// for at most 512 B in a Release build, the whole request included), and the chunked-framing
/// bound, which then depends on verbose being turned on at the end of a chunked head.
/// </summary>
public sealed class CurlWithoutDebugLogTests : QuietLoopFixture
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Test]
    [CancelAfter(30_000)]
    public void KeepAliveRequests_Warm_AllocateLittlePerRequest()
    {
        const int Requests = 1000;
        long perRequest = 0;
        using var client = new CurlAsyncHttpClient(Loop, new AsyncHttpClientSettings { MaxClients = 4 });
        var request = new HttpRequest(TestHttpServer.Shared.Url("/hello"));
        Loop.RunSync(
            async () =>
            {
                for (int i = 0; i < 200; i++)
                {
                    Assert.That((await client.FetchAsync(request)).Code, Is.EqualTo(200));
                }

                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < Requests; i++)
                {
                    _ = await client.FetchAsync(request);
                }

                perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / Requests;
            },
            Timeout);
        // A Debug build (async state machines are classes there), the fetch's own objects and the
        // response included: about 1,450 B now, 3,900 B when every header line was a few strings,
        // every request built its header list and its body buffer.
        TestContext.Out.WriteLine($"{perRequest} B per request");
        Assert.That(perRequest, Is.LessThan(2_000));
    }

    [Test]
    [CancelAfter(30_000)]
    public void EndlessChunkExtension_WithoutDebugLogging_IsAProtocolErrorAtMaxBodySize()
    {
        // libcurl 7.88 skips a chunk extension of any length and reports its bytes only to the
        // debug callback of a verbose handle: the head's end must turn verbose on, or this runs
        // into the request timeout (a timeout error, not this protocol error).
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
            byte[] extension = Encoding.ASCII.GetBytes(new string('x', 0x4000));
            while (true)
            {
                await connection.WriteAsync(extension);
            }
        });
        using var client = new CurlAsyncHttpClient(Loop, new AsyncHttpClientSettings { MaxBodySize = 256 * 1024 });
        HttpResponse? response = null;
        Loop.RunSync(
            async () => response = await client.FetchAsync(new HttpRequest(server.Url()) { RequestTimeout = TimeSpan.FromSeconds(15) }, raiseError: false),
            Timeout);
        Assert.That(response!.Error, Is.InstanceOf<HttpProtocolError>());
        Assert.That(response.Error!.Message, Does.Contain("chunked framing"));
    }

    [Test]
    [CancelAfter(30_000)]
    public void ChunkedBody_WithoutDebugLogging_IsReadWhole()
    {
        using RawHttpServer server = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        });
        using var client = new CurlAsyncHttpClient(Loop, new AsyncHttpClientSettings());
        HttpResponse? response = null;
        Loop.RunSync(async () => response = await client.FetchAsync(server.Url()), Timeout);
        Assert.That(Encoding.ASCII.GetString(response!.Body), Is.EqualTo("hello world"));
    }
}
