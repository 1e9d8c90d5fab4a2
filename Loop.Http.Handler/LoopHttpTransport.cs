using Loop.Curl;

namespace Loop.Http;

/// <summary>
/// An <see cref="IOLoop"/> running on a thread of its own (a background thread named
/// <c>Loop.Http</c>) with one <see cref="AsyncHttpClient"/> on it: what a
/// <see cref="LoopHttpMessageHandler"/> made with options runs on, and what <c>AddLoop</c> shares
/// between the handlers of a service container. <see cref="Dispose"/> closes the client (ending
/// the fetches still running), stops the loop and waits for its thread to end.
/// </summary>
/// <remarks>
/// Every member is thread-safe. A handler given a transport never disposes it: its owner does
/// (the service container, for <c>AddLoop</c>), so a handler that <c>IHttpClientFactory</c>
/// recycles cannot stop the loop under the others.
/// </remarks>
public sealed class LoopHttpTransport : IDisposable, IAsyncDisposable
{
    private readonly Thread _thread;
    private int _disposed;

    /// <summary>Makes the loop and the client that <paramref name="options"/> choose, and starts the loop's thread.</summary>
    /// <param name="options">Which client (<see cref="LoopHttpMessageHandlerOptions.Client"/>) and its settings; null for the simple client with its defaults and no body size limit.</param>
    /// <exception cref="CurlUnavailableException">The curl client was asked for and libcurl cannot be loaded.</exception>
    public LoopHttpTransport(LoopHttpMessageHandlerOptions? options = null)
    {
        options ??= new LoopHttpMessageHandlerOptions();
        Loop = new IOLoop();
        AsyncHttpClientSettings settings = options.EffectiveClientSettings();
        try
        {
            Client = options.Client == LoopClientKind.Curl ? new CurlAsyncHttpClient(Loop, settings) : new SimpleAsyncHttpClient(Loop, settings);
        }
        catch
        {
            Loop.Close();
            throw;
        }

        Kind = options.Client;
        _thread = new Thread(static state => ((LoopHttpTransport)state!).Run())
        {
            IsBackground = true,
            Name = "Loop.Http",
        };
        _thread.Start(this);
    }

    /// <summary>The loop, run by the transport's own thread until <see cref="Dispose"/>. Hand it work with <see cref="IOLoop.AddCallback(Action)"/>.</summary>
    public IOLoop Loop { get; }

    /// <summary>The client on <see cref="Loop"/>. Closed by <see cref="Dispose"/>; do not close it yourself.</summary>
    public AsyncHttpClient Client { get; }

    /// <summary>Which client <see cref="Client"/> is.</summary>
    public LoopClientKind Kind { get; }

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The loop's thread (for tests: it must have ended after <see cref="Dispose"/>).</summary>
    internal Thread Thread => _thread;

    /// <summary>
    /// Closes the client (fetches still running fail, as <see cref="AsyncHttpClient.Close"/> says),
    /// stops the loop and, unless called on the loop's own thread, waits for that thread to end;
    /// the loop is closed there, with every descriptor it watched. Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // The loop's thread closes the client and the loop once the loop has stopped (Run).
        Loop.Stop();
        if (!Loop.IsOnLoopThread)
        {
            _thread.Join();
        }
    }

    /// <summary>
    /// As <see cref="Dispose"/>, but waits for the loop's thread to end without blocking the
    /// caller's thread.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Loop.Stop();
        if (!Loop.IsOnLoopThread)
        {
            await _ended.Task.ConfigureAwait(false);
        }
    }

    // Completed when the loop's thread has closed the client and the loop (DisposeAsync waits for it).
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Run()
    {
        bool pollerFailed = false;
        try
        {
            Loop.Start();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // The kernel poller failed and the loop stopped: the client is closed below, so its
            // fetches fail (with ObjectDisposedException inside) rather than wait forever.
            pollerFailed = true;
        }

        try
        {
            // Closing queues the connections' own close callbacks: a few more iterations run them.
            Client.Close();
            for (int i = 0; i < 10 && !pollerFailed && Loop.PendingCallbackCount > 0; i++)
            {
                Loop.RunOnce(TimeSpan.Zero);
            }
        }
        finally
        {
            Loop.Close(allFds: true);
            _ended.TrySetResult();
        }
    }
}
