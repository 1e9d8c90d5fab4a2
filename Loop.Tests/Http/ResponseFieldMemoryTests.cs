using Microsoft.Extensions.Logging;
using System.Text;
using Loop.Http;
using Loop.Http.Simple;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// A client's connections share what their response heads parsed last (strings, kept lines, the
/// last fields array): responses that interleave across connections, with different fields, must
/// each get exactly their own.
/// </summary>
public sealed class ResponseFieldMemoryTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    // Unobserved: no Debug logger (and no meter or activity listener), as in production.
    protected override LogLevel MinimumLogLevel => LogLevel.Information;

    private static byte[] Block(string text) => Encoding.ASCII.GetBytes(text);

    [Test]
    public void TwoHeadsSharingMemory_InterleavedDifferentResponses_EachParsesItsOwnFields()
    {
        var memory = new ResponseHead.FieldMemory();
        var first = new ResponseHead(memory);
        var second = new ResponseHead(memory);
        byte[] plain = Block("HTTP/1.1 200 OK\r\nServer: a\r\nContent-Length: 5\r\n\r\n");
        byte[] other = Block("HTTP/1.1 404 Gone Away\r\nServer: b\r\nContent-Length: 7\r\nX-Extra: yes\r\n\r\n");
        var seen = new List<(int Code, string Reason, string Fields)>();
        for (int round = 0; round < 4; round++)
        {
            first.Parse(plain, keepRawLines: false);
            seen.Add((first.Code, first.Reason, HttpHeaders.OverShared(first.PublishFields()).ToString()));
            second.Parse(other, keepRawLines: false);
            seen.Add((second.Code, second.Reason, HttpHeaders.OverShared(second.PublishFields()).ToString()));
        }

        Assert.That(seen.Where((_, i) => i % 2 == 0), Is.All.EqualTo((200, "OK", "Server: a\r\nContent-Length: 5\r\n")));
        Assert.That(seen.Where((_, i) => i % 2 == 1), Is.All.EqualTo((404, "Gone Away", "Server: b\r\nContent-Length: 7\r\nX-Extra: yes\r\n")));
    }

    [Test]
    public void TwoHeadsSharingMemory_ALineThatChangesAfterBeingKept_IsParsedAgain()
    {
        var memory = new ResponseHead.FieldMemory();
        var first = new ResponseHead(memory);
        var second = new ResponseHead(memory);
        first.Parse(Block("HTTP/1.1 200 OK\r\nDate: one\r\n\r\n"), keepRawLines: false);
        second.Parse(Block("HTTP/1.1 200 OK\r\nDate: one\r\n\r\n"), keepRawLines: false);
        first.Parse(Block("HTTP/1.1 200 OK\r\nDate: two\r\n\r\n"), keepRawLines: false);
        Assert.That(first.Headers["Date"], Is.EqualTo("two"));
        second.Parse(Block("HTTP/1.1 200 OK\r\nDate: one\r\n\r\n"), keepRawLines: false);
        Assert.That(second.Headers["Date"], Is.EqualTo("one"));
    }

    [Test]
    public void CloseResponsesFromTwoServers_InTurn_EachResponseHasItsServersFields() => Run(async () =>
    {
        // Every response on a new connection: the heads are new each time, the memory is the client's.
        static RawHttpServer Serve(string name) => RawHttpServer.Start(async connection =>
        {
            if (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync($"HTTP/1.1 200 OK\r\nServer: {name}\r\nX-Only-{name}: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        using RawHttpServer one = Serve("one");
        using RawHttpServer two = Serve("two");
        for (int round = 0; round < 3; round++)
        {
            foreach ((RawHttpServer server, string name) in new[] { (one, "one"), (two, "two") })
            {
                HttpResponse response = await Client.FetchAsync(server.Url());
                Assert.That(response.Headers.ToString(), Is.EqualTo($"Server: {name}\r\nX-Only-{name}: 1\r\nConnection: close\r\nContent-Length: 2\r\n"));
            }
        }

        Assert.That(one.ConnectionCount + two.ConnectionCount, Is.EqualTo(6));
    });
}
