using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>IAsyncDisposable on the loop and the clients: disposing from another thread waits for the loop to let go.</summary>
[CancelAfter(30_000)]
public sealed class AsyncDisposeTests
{
    private static TestHttpServer Server => TestHttpServer.Shared;

    [Test]
    public async Task DisposeAsync_LoopRunningOnAnotherThread_StopsItAndCloses()
    {
        var loop = new IOLoop();
        var started = new TaskCompletionSource();
        var thread = new Thread(() =>
        {
            loop.AddCallback(() => started.SetResult());
            loop.Start();
        }) { IsBackground = true, Name = "loop under test" };
        thread.Start();
        await started.Task;

        await loop.DisposeAsync();
        Assert.That(loop.IsClosed, Is.True);
        Assert.That(loop.IsRunning, Is.False);
        Assert.That(thread.Join(TimeSpan.FromSeconds(10)), Is.True, "Start returned");
    }

    [Test]
    public async Task DisposeAsync_LoopNotRunning_Closes()
    {
        var loop = new IOLoop();
        await loop.DisposeAsync();
        Assert.That(loop.IsClosed, Is.True);
        await loop.DisposeAsync();
    }

    [Test]
    public void DisposeAsync_FromTheLoopsOwnCallback_Throws()
    {
        using var loop = new IOLoop();
        Exception? error = null;
        loop.RunSync(async () =>
        {
            try
            {
                await loop.DisposeAsync();
            }
            catch (InvalidOperationException e)
            {
                error = e;
            }
        }, TimeSpan.FromSeconds(10));
        Assert.That(error, Is.InstanceOf<InvalidOperationException>());
        Assert.That(loop.IsClosed, Is.False);
    }

    [TestCase(typeof(SimpleAsyncHttpClient))]
    [TestCase(typeof(Loop.Curl.CurlAsyncHttpClient))]
    public async Task DisposeAsync_ClientFromAnotherThread_ReturnsOnceItsConnectionsAreClosed(Type clientType)
    {
        var loop = new IOLoop();
        var thread = new Thread(loop.Start) { IsBackground = true, Name = "loop under test" };
        thread.Start();
        try
        {
            var client = (AsyncHttpClient)Activator.CreateInstance(clientType, loop, new AsyncHttpClientSettings())!;
            HttpResponse response = await client.FetchAsync(Server.Url("/hello"));
            Assert.That(response.Code, Is.EqualTo(200));
            Task<HttpResponse> hanging = client.FetchAsync(Server.Url("/hang"));

            await client.DisposeAsync();
            Assert.That(client.IsClosed, Is.True);
            Assert.That(hanging.IsCompleted, Is.True, "the running fetch ended before DisposeAsync returned");
            Assert.That(hanging.IsFaulted, Is.True);
            if (client is SimpleAsyncHttpClient simple)
            {
                Assert.That(simple.IdleConnectionCount, Is.Zero);
            }
        }
        finally
        {
            await loop.DisposeAsync();
            thread.Join(TimeSpan.FromSeconds(10));
        }
    }

    [Test]
    public async Task DisposeAsync_BlockingClient_Closes()
    {
        var client = new BlockingHttpClient();
        Assert.That(client.Fetch(Server.Url("/hello")).Code, Is.EqualTo(200));
        await client.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => client.Fetch(Server.Url("/hello")));
    }
}
