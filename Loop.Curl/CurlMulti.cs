using System.Runtime.InteropServices;
using Loop.Curl.Native;

namespace Loop.Curl;

/// <summary>
/// One of a <see cref="CurlAsyncHttpClient"/>'s libcurl multi handles: its own connection cache
/// and its own timer. A client makes a second one only when the first runs
/// <see cref="CurlAsyncHttpClient.MultiCapacity"/> transfers, and so on: libcurl 7.88 looks
/// through a multi handle's whole connection cache twice per transfer (for a connection to reuse,
/// lib/url.c <c>ConnectionExists</c>; and in <c>curl_multi_remove_handle</c>, for a connect-only
/// connection of the last one used, lib/multi.c <c>close_connect_only</c>), which at 10,000
/// connections in one cache took most of the client's time. Loop thread only.
/// </summary>
internal sealed class CurlMulti : IDisposable
{
    private GCHandle _self;

    public CurlMulti(CurlAsyncHttpClient client)
    {
        Client = client;
        Handle = CurlMultiHandle.Create();
        _self = GCHandle.Alloc(this);
    }

    /// <summary>The client this multi handle serves.</summary>
    public CurlAsyncHttpClient Client { get; }

    /// <summary>The native multi handle.</summary>
    public CurlMultiHandle Handle { get; }

    /// <summary>The native handle as a pointer, for the calls.</summary>
    public nint Native => Handle.DangerousGetHandle();

    /// <summary>This object as native user data (the socket and timer callbacks' data).</summary>
    public nint NativeSelf => GCHandle.ToIntPtr(_self);

    /// <summary>Transfers added to it and not yet removed.</summary>
    public int Running { get; set; }

    /// <summary>The loop timeout libcurl asked for (CURLMOPT_TIMERFUNCTION), and when it is due (loop time).</summary>
    public TimeoutHandle Timer { get; set; }

    /// <summary>When <see cref="Timer"/> is due, in loop time.</summary>
    public double TimerDue { get; set; }

    /// <summary>Since when (loop time) <see cref="Running"/> has been zero.</summary>
    public double EmptySince { get; set; }

    /// <summary>Whether it has been cleaned up (its connections closed).</summary>
    public bool IsDisposed => Handle.IsClosed;

    /// <summary>The multi handle's cleanup closes its cached connections (through the client's socket callbacks); then this object can no longer be reached from native code.</summary>
    public void Dispose()
    {
        Handle.Dispose();
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    /// <summary>The multi behind native user data, or null once it is gone.</summary>
    public static CurlMulti? FromNative(nint self) => self == 0 ? null : GCHandle.FromIntPtr(self).Target as CurlMulti;
}
