using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Loop.Benchmarks;

/// <summary>A tour of the loop that finishes by itself in well under a second.</summary>
internal static class Demo
{
    public static int Run()
    {
        using var loop = new IOLoop();
        var clock = Stopwatch.StartNew();
        void Say(string what) =>
            Console.WriteLine($"[{clock.Elapsed.TotalMilliseconds,7:0.0} ms, thread {Environment.CurrentManagedThreadId,2}] {what}");

        Say($"IOLoop on {loop.Backend} (backend descriptor {loop.BackendFileDescriptor})");
        (Socket client, Socket server) = ConnectedPair();
        int echoed = 0;
        int echoedBytes = 0;

        // The server side echoes whatever it reads, from a level-triggered read handler.
        loop.AddHandler(server, (fd, events) =>
        {
            Span<byte> buffer = stackalloc byte[256];
            int n = server.Receive(buffer, SocketFlags.None, out SocketError error);
            if (n > 0 && error == SocketError.Success)
            {
                server.Send(buffer[..n]);
            }
        }, IOEvents.Read);

        string result = loop.RunSync(async () =>
        {
            int loopThread = Environment.CurrentManagedThreadId;
            Say("RunSync: the function runs on the loop thread");

            var replies = new TaskCompletionSource();
            loop.AddHandler(client, (fd, events) =>
            {
                Span<byte> buffer = stackalloc byte[256];
                int n = client.Receive(buffer, SocketFlags.None, out _);
                Say($"handler: fd {fd} is {events}, echo says \"{Encoding.ASCII.GetString(buffer[..n])}\"");
                echoed++;

                // TCP may merge the echoes, so count bytes rather than reads.
                echoedBytes += n;
                if (echoedBytes == "onetwothree".Length)
                {
                    loop.RemoveHandler(client);
                    replies.SetResult();
                }
            }, IOEvents.Read);

            foreach (string word in new[] { "one", "two", "three" })
            {
                client.Send(Encoding.ASCII.GetBytes(word));
                await Task.Delay(5);
            }

            await replies.Task;

            var timer = new TaskCompletionSource();
            loop.CallLater(TimeSpan.FromMilliseconds(20), () =>
            {
                Say("CallLater: a timer fired after 20 ms");
                timer.SetResult();
            });
            await timer.Task;

            var ticks = new TaskCompletionSource();
            int count = 0;
            PeriodicCallback? periodic = null;
            periodic = new PeriodicCallback(() =>
            {
                Say($"PeriodicCallback: tick {++count}");
                if (count == 3)
                {
                    periodic!.Stop();
                    ticks.SetResult();
                }
            }, TimeSpan.FromMilliseconds(10), loop: loop);
            periodic.Start();
            await ticks.Task;

            var crossThread = new TaskCompletionSource();
            new Thread(() =>
            {
                Say("another thread calls AddCallback");
                loop.AddCallback(() =>
                {
                    Say("AddCallback: ran on the loop thread");
                    crossThread.SetResult();
                });
            }).Start();
            await crossThread.Task;

            int worker = await loop.RunInExecutor(() => Environment.CurrentManagedThreadId);
            Say($"RunInExecutor: work ran on thread {worker}; the await resumed on the loop thread");
            return Environment.CurrentManagedThreadId == loopThread ? "every await came back to the loop thread" : "an await left the loop thread";
        }, timeout: TimeSpan.FromSeconds(10));

        loop.RemoveHandler(server);
        client.Dispose();
        server.Dispose();
        Say($"done: {echoedBytes} bytes echoed in {echoed} reads, {result}");
        return 0;
    }

    private static (Socket Client, Socket Server) ConnectedPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        Socket server = listener.Accept();
        client.Blocking = false;
        server.Blocking = false;
        return (client, server);
    }
}
