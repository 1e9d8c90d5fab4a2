using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Benchmarks;

/// <summary>
/// A short tour of the loop for <c>make run</c>: socket handlers, a timer, a periodic callback,
/// awaits inside RunSync and a cross-thread callback. It finishes by itself in well under a
/// second (RunSync's timeout bounds it if something goes wrong) and exits 0 on success.
/// </summary>
internal static class Demo
{
    private static readonly string[] s_words = ["hello", "from", "the loop"];

    private static readonly Stopwatch s_clock = new();

    public static int Run()
    {
        s_clock.Restart();
        var loop = new IOLoop();
        Say($"created an IOLoop on {loop.Backend}");
        (Socket client, Socket server) = ConnectedPair();
        try
        {
            bool allOnLoop = loop.RunSync(() => TourAsync(loop, client, server), timeout: TimeSpan.FromSeconds(10));
            Say(allOnLoop
                ? "RunSync returned: every await resumed on the loop thread"
                : "RunSync returned, but an await resumed off the loop thread");
            return allOnLoop ? 0 : 1;
        }
        catch (Exception e)
        {
            Say($"the demo failed: {e}");
            return 1;
        }
        finally
        {
            // Handlers come off before the sockets close, as AddHandler(Socket, …) asks.
            loop.RemoveHandler(client);
            loop.RemoveHandler(server);
            client.Dispose();
            server.Dispose();
            loop.Close();
            Say($"loop closed (IsClosed = {loop.IsClosed})");
        }
    }

    private static async Task<bool> TourAsync(IOLoop loop, Socket client, Socket server)
    {
        int loopThread = Environment.CurrentManagedThreadId;
        bool allOnLoop = true;
        void Resumed(string after)
        {
            bool onLoop = Environment.CurrentManagedThreadId == loopThread;
            allOnLoop &= onLoop;
            Say($"{after}: resumed on {(onLoop ? "the loop thread" : "ANOTHER THREAD")}");
        }

        Say("RunSync started the loop and called the async function on the loop thread");

        // The server side echoes whatever it reads. Handlers are level-triggered: this one is
        // called on every iteration while the socket has unread bytes.
        loop.AddHandler(server, (fd, events) =>
        {
            Span<byte> buffer = stackalloc byte[256];
            int n = server.Receive(buffer, SocketFlags.None, out SocketError error);
            if (n <= 0 || error != SocketError.Success)
            {
                // End of stream or an error: stop watching rather than be called forever.
                loop.RemoveHandler(server);
                return;
            }

            Say($"  server handler (fd {fd}, {events}): echoing {n} bytes");
            server.Send(buffer[..n]);
        }, IOEvents.Read);

        // The client side collects the echo until the whole message is back (TCP may split it).
        var received = new StringBuilder();
        int expected = 0;
        TaskCompletionSource<string>? reply = null;
        loop.AddHandler(client, (fd, events) =>
        {
            Span<byte> buffer = stackalloc byte[256];
            int n = client.Receive(buffer, SocketFlags.None, out SocketError error);
            if (n <= 0 || error != SocketError.Success)
            {
                loop.RemoveHandler(client);
                reply?.TrySetException(new IOException($"The echo connection failed ({error})."));
                return;
            }

            received.Append(Encoding.ASCII.GetString(buffer[..n]));
            Say($"  client handler (fd {fd}, {events}): read {n} bytes");
            if (received.Length >= expected)
            {
                reply?.TrySetResult(received.ToString());
            }
        }, IOEvents.Read);

        foreach (string word in s_words)
        {
            received.Clear();
            expected = word.Length;

            // Asynchronous continuations: the awaiting code runs in a later loop callback, not
            // inside the handler that completes the task (as with a Tornado Future).
            reply = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            client.Send(Encoding.ASCII.GetBytes(word));
            Say($"sent \"{word}\"");
            string echo = await reply.Task;
            Resumed($"echo \"{echo}\" came back; await");
        }

        // Task.Delay completes on a runtime timer thread; the loop's SynchronizationContext
        // brings the continuation back to the loop.
        await Task.Delay(10);
        Resumed("await Task.Delay(10)");

        var timer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long scheduled = Stopwatch.GetTimestamp();
        loop.CallLater(TimeSpan.FromMilliseconds(20), () =>
        {
            Say($"CallLater(20 ms) fired after {Stopwatch.GetElapsedTime(scheduled).TotalMilliseconds:0.0} ms");
            timer.SetResult();
        });
        await timer.Task;

        var ticked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int ticks = 0;
        PeriodicCallback? periodic = null;
        periodic = new PeriodicCallback(() =>
        {
            Say($"PeriodicCallback(10 ms): tick {++ticks}");
            if (ticks == 3)
            {
                periodic!.Stop();
                ticked.SetResult();
            }
        }, TimeSpan.FromMilliseconds(10), loop: loop);
        periodic.Start();
        await ticked.Task;
        Say($"PeriodicCallback stopped after {ticks} ticks (IsRunning = {periodic.IsRunning})");

        var crossThread = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var worker = new Thread(() =>
        {
            Say("a worker thread calls AddCallback (thread-safe; it wakes the loop)");
            loop.AddCallback(() =>
            {
                Say("  the callback runs on the loop thread");
                crossThread.SetResult();
            });
        });
        worker.Start();
        await crossThread.Task;
        Resumed("await of the cross-thread callback");
        worker.Join();

        int pooled = await loop.RunInExecutor(() => Environment.CurrentManagedThreadId);
        Resumed($"RunInExecutor ran blocking work on pool thread {pooled}; await");

        return allOnLoop;
    }

    private static void Say(string what) =>
        Console.WriteLine($"[{s_clock.Elapsed.TotalMilliseconds,6:0.0} ms, thread {Environment.CurrentManagedThreadId,2}] {what}");

    /// <summary>Two connected, non-blocking loopback TCP sockets.</summary>
    private static (Socket Client, Socket Server) ConnectedPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        Socket server = listener.Accept();
        server.NoDelay = true;
        client.Blocking = false;
        server.Blocking = false;
        return (client, server);
    }
}
