using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Hostile;

/// <summary>
/// Serves a catalogue case's replies over <see cref="RawHttpServer"/>: the n-th request the server
/// receives, on whatever connection, gets the n-th reply (the last one repeats), byte for byte.
/// </summary>
public sealed class CaseServer : IDisposable
{
    private readonly IReadOnlyList<Reply> _replies;
    private readonly RawHttpServer _server;
    private readonly Lock _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private int _claimed;
    private int _finished;

    private CaseServer(IReadOnlyList<Reply> replies)
    {
        _replies = replies;
        _server = RawHttpServer.Start(ServeAsync);
    }

    public int Port => _server.Port;

    /// <summary>The request heads received, in order.</summary>
    public IReadOnlyList<string> Requests => [.. _server.Requests];

    public static CaseServer Start(IReadOnlyList<Reply> replies) => new(replies);

    public string Url(string path) => _server.Url(path);

    /// <summary>Completes once <paramref name="count"/> replies have been served to their end (closed, reset, stalled or kept alive).</summary>
    public Task WhenServed(int count)
    {
        lock (_gate)
        {
            if (_finished >= count)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task;
        }
    }

    public void Dispose() => _server.Dispose();

    private Reply ReplyAt(int index) => _replies[Math.Min(index, _replies.Count - 1)];

    private async Task ServeAsync(RawHttpServer.Connection connection)
    {
        while (true)
        {
            Reply next = ReplyAt(Volatile.Read(ref _claimed));
            if (next.ReadsRequest && await connection.ReadRequestAsync(next.ReadsBody) is null)
            {
                return;
            }

            Reply reply = ReplyAt(Interlocked.Increment(ref _claimed) - 1);
            try
            {
                foreach (Step step in reply.Steps)
                {
                    await RunAsync(step, connection);
                }

                switch (reply.End)
                {
                    case ServerEnd.KeepAlive:
                        continue;
                    case ServerEnd.Close:
                        connection.Socket.Close();
                        return;
                    case ServerEnd.Reset:
                        connection.Socket.LingerState = new LingerOption(true, 0);
                        connection.Socket.Close();
                        return;
                    case ServerEnd.Stall:
                        connection.KeepOpen = true;
                        return;
                }
            }
            finally
            {
                Finished();
            }
        }
    }

    private static async Task RunAsync(Step step, RawHttpServer.Connection connection)
    {
        switch (step)
        {
            case Step.Write write:
                await connection.WriteAsync(write.Bytes);
                break;
            case Step.WriteForever forever:
                // Ends with the SocketException of a client that went away.
                while (true)
                {
                    await connection.WriteAsync(forever.Bytes);
                }

            case Step.Pause pause:
                // The catalogue's deliberately slow server: the one place a timer paces the bytes.
                await Task.Delay(pause.Duration);
                break;
            case Step.ReadRequest:
                await connection.ReadRequestAsync();
                break;
        }
    }

    private void Finished()
    {
        lock (_gate)
        {
            _finished++;
            foreach ((int count, TaskCompletionSource done) in _waiters.Where(w => w.Count <= _finished).ToList())
            {
                done.TrySetResult();
                _waiters.Remove((count, done));
            }
        }
    }
}
