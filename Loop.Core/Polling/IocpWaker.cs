using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>
/// Wakes an <see cref="AfdPoller"/> by posting a packet to its completion port
/// (PostQueuedCompletionStatus), which the poller recognises by its completion key and reports
/// as a readable event for the loop's waker token. There is no descriptor:
/// <see cref="ReadFileDescriptor"/> and <see cref="WriteFileDescriptor"/> are -1. The port
/// belongs to the poller; the loop disposes the waker first and never wakes it afterwards.
/// </summary>
[SupportedOSPlatform("windows")]
internal sealed unsafe class IocpWaker : IWaker
{
    private readonly SafeHandle _port;
    private readonly nuint _key;

    // 1 while a packet is outstanding, so a burst of wakes costs one post (libuv's uv_async_send).
    private int _pending;

    internal IocpWaker(SafeHandle port, nuint key)
    {
        _port = port;
        _key = key;
    }

    public int ReadFileDescriptor => -1;

    public int WriteFileDescriptor => -1;

    public void Wake()
    {
        if (Volatile.Read(ref _pending) != 0 || Interlocked.Exchange(ref _pending, 1) != 0)
        {
            return;
        }

        if (WindowsKernel32.PostQueuedCompletionStatus(_port, 0, _key, null) == 0)
        {
            // The port could not queue the packet (out of non-paged pool): let the next wake try
            // again rather than leave the flag set with no packet behind it.
            Volatile.Write(ref _pending, 0);
        }
    }

    public void Drain() => Volatile.Write(ref _pending, 0);

    public void Dispose()
    {
        // The port is the poller's; nothing of the waker's own to release.
    }
}
