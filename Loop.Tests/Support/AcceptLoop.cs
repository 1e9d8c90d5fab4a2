using System.Net.Sockets;

namespace Loop.Tests.Support;

/// <summary>The accept loop of the thread-pool test servers: each connection goes to its own task until the server stops.</summary>
public static class AcceptLoop
{
    public static async Task RunAsync(Socket listener, CancellationToken stop, Func<Socket, Task> serve)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stop);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => serve(socket));
        }
    }
}
