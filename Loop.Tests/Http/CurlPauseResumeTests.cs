using Loop.Curl;
using Loop.Http;
using Loop.Polling;

namespace Loop.Tests.Http;

/// <summary>
/// The curl client pauses a transfer (CURL_WRITEFUNC_PAUSE) while an
/// <see cref="HttpRequest.AsyncStreamingCallback"/> task is pending and resumes it when the task
/// completes: however the tasks complete, every paused transfer is resumed and the body arrives
/// whole. A task completed on the thread pool resumes the transfer through a cross-thread wake of
/// the loop, which a race in the loop's waker could lose for good (the "stays paused" hang seen
/// with loop-fetch piping into a slow reader): the waker test below provokes that race directly.
/// </summary>
public sealed class CurlPauseResumeTests() : HttpClientFixture(typeof(CurlAsyncHttpClient))
{
    [Test]
    public void AsyncStreamingCallback_CompletingInline_OnTheLoop_AndFromThePool_EveryLargeBodyArrivesWhole() => Run(async () =>
    {
        // Hundreds of pause/resume cycles per body, the tasks completing every way a caller's
        // can: at once, from a loop callback, after a loop timer, and on the thread pool (a
        // write to a pipe), whose continuation comes back through the loop's context with a
        // cross-thread wake. A lost wake leaves the transfer paused until the client's
        // one-second safety tick, so a body takes minutes and the request timeout ends it.
        const int size = 8 * 1024 * 1024;
        var random = new Random(7);
        using var server = new BodyTestServer(size);
        foreach (string framing in new[] { "length", "chunked", "length", "chunked" })
        {
            long received = 0;
            int pending = 0;
            var request = new HttpRequest(server.Url("/" + framing))
            {
                RequestTimeout = TimeSpan.FromSeconds(10),
                AsyncStreamingCallback = data =>
                {
                    received += data.Length;
                    int how = random.Next(5);
                    pending += how == 0 ? 0 : 1;
                    switch (how)
                    {
                        case 0:
                            return ValueTask.CompletedTask;
                        case 1:
                            {
                                var done = new TaskCompletionSource();
                                Loop.AddCallback(static state => ((TaskCompletionSource)state!).SetResult(), done);
                                return new ValueTask(done.Task);
                            }

                        case 2:
                            {
                                var done = new TaskCompletionSource();
                                Loop.CallLater(TimeSpan.FromMilliseconds(random.Next(2)), static state => ((TaskCompletionSource)state!).SetResult(), done);
                                return new ValueTask(done.Task);
                            }

                        case 3:
                            return new ValueTask(Task.Run(static () => { }));

                        default:
                            return new ValueTask(Task.Delay(1)); // the behaviour under test: a callback completing later, on a pool timer
                    }
                },
            };

            HttpResponse response = await Client.FetchAsync(request, raiseError: false);
            Assert.That(response.Error, Is.Null, $"/{framing}: {received} of {size} bytes");
            Assert.That(received, Is.EqualTo(size));
            Assert.That(pending, Is.GreaterThan(100), "the transfer was paused and resumed many times");
        }
    });

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(20_000)]
    [Platform(Include = "Linux", Reason = "The eventfd and pipe wakers under epoll")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Waker_WokenWhileTheLoopDrainsIt_StaysReadyForTheNextWake(bool pipe)
    {
        // The cross-thread wake behind a streaming callback completed on the thread pool: a wake
        // that lands while the loop drains the waker must not leave its "already woken" flag set
        // over an empty descriptor, or every later wake is skipped and the loop sleeps through
        // them (a paused curl transfer then waits for the next timer, once a second).
        using IWaker waker = IWaker.Create(pipe);
        using var poller = new EpollPoller(4);
        poller.Add(waker.ReadFileDescriptor, IOEvents.Read, 1);
        var events = new PollerEvent[4];
        int inWake = 0;
        bool stop = false;
        var other = new Thread(() =>
        {
            var random = new Random(5);
            while (!Volatile.Read(ref stop))
            {
                Interlocked.Increment(ref inWake);
                waker.Wake();
                Interlocked.Decrement(ref inWake);
                Thread.SpinWait(random.Next(0, 50));
            }
        }) { IsBackground = true };
        other.Start();
        int lost = 0;
        int drains = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(1) && lost == 0)
            {
                waker.Drain();
                drains++;

                // Our own wake now: it must leave the descriptor readable, unless the other
                // thread is between taking the flag and writing.
                waker.Wake();
                if (poller.Wait(events, 0) == 0 && Volatile.Read(ref inWake) == 0 && poller.Wait(events, 0) == 0)
                {
                    lost++;
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            other.Join();
        }

        Assert.That(lost, Is.Zero, $"a wake was lost after {drains} drains");
    }
}
