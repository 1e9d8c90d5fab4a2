using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Tests.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Portability;

/// <summary>
/// The simple client on this OS's own poller (<see cref="PollerBackend.Auto"/>: epoll here, the
/// AFD/IOCP backend on Windows), against a raw-socket server on 127.0.0.1. Nothing here needs
/// Kestrel or anything Unix-only, so <c>make test-windows</c> runs these under Wine as well: the
/// fetches that a user of the Windows build makes first.
/// </summary>
public sealed class PortableFetchTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    [Test]
    public void Get_FromLocalServer_ReturnsStatusHeadersAndBody() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 201 Made\r\nContent-Length: 5\r\nX-Port: yes\r\n\r\nhello");
        HttpResponse response = await Client.FetchAsync(raw.Url("/there?x=1"));
        Assert.That(response.Code, Is.EqualTo(201));
        Assert.That(response.Reason, Is.EqualTo("Made"));
        Assert.That(response.Headers["X-Port"], Is.EqualTo("yes"));
        Assert.That(Encoding.ASCII.GetString(response.Body), Is.EqualTo("hello"));
        Assert.That(raw.Requests.Single(), Does.StartWith("GET /there?x=1 HTTP/1.1\r\n"));
    });

    [Test]
    public void KeepAlive_SecondFetchReusesTheConnection() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        for (int i = 0; i < 3; i++)
        {
            HttpResponse response = await Client.FetchAsync(raw.Url($"/{i}"));
            Assert.That(Encoding.ASCII.GetString(response.Body), Is.EqualTo("ok"));
        }

        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
        Assert.That(raw.Requests, Has.Count.EqualTo(3));
    });

    [Test]
    public void Post_SendsTheBodyWithItsLength() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url("/post")) { Method = "POST", Body = Encoding.ASCII.GetBytes("a=1&b=2") });
        Assert.That(response.Code, Is.EqualTo(200));
        Assert.That(raw.Requests.Single(), Does.StartWith("POST /post HTTP/1.1\r\n").And.Contains("Content-Length: 7\r\n"));
    });

    [Test]
    public void ChunkedResponseInPieces_IsReassembled() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            foreach (string piece in new[] { "5\r\nhello\r\n", "1\r\n \r\n", "5\r\nworld\r\n", "0\r\n\r\n" })
            {
                await connection.WriteAsync(piece);
            }
        });
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(Encoding.ASCII.GetString(response.Body), Is.EqualTo("hello world"));
    });

    [Test]
    public void LargeBody_ArrivesWhole() => Run(async () =>
    {
        byte[] body = new byte[1 << 20];
        new Random(7).NextBytes(body);
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n");
            await connection.Socket.SendAsync(body, SocketFlags.None);
        });
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Body, Is.EqualTo(body));
    });

    [Test]
    public void ServerClosesMidBody_IsAStreamClosedErrorCountingTheBytes() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.InstanceOf<HttpStreamClosedError>());
        Assert.That(((HttpStreamClosedError)response.Error!).BytesReceived, Is.GreaterThanOrEqualTo(4));
    });

    [Test]
    public void NothingListening_IsAConnectErrorNamingThePort() => Run(async () =>
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        HttpResponse response = await Client.FetchAsync(new HttpRequest($"http://127.0.0.1:{port}/") { ConnectTimeout = TimeSpan.FromSeconds(5) }, raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpConnectError>());
        Assert.That(((HttpConnectError)response.Error!).Port, Is.EqualTo(port));
    });
}
