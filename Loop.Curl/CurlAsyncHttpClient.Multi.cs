using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

// curl's multi handles on the loop: which one runs a transfer (at most MultiCapacity each; see
// CurlMulti for why there is more than one), their timers and the safety tick, the socket action
// and the completions after it, and the retiring of an extra handle left idle.
public sealed partial class CurlAsyncHttpClient
{
    // The lost-wake-up guard: curl is asked for due work this often while transfers run.
    private static readonly TimeSpan s_safetyTick = TimeSpan.FromSeconds(1);

    // The multi handles: the first always, another each time all run MultiCapacity transfers.
    private readonly List<CurlMulti> _multis = [];
    private TimeoutHandle _tick;
    private bool _tickArmed;
    private TimeoutHandle _retire;
    private bool _retireArmed;

    /// <summary>
    /// How many connections each multi handle's cache keeps (<c>CURLMOPT_MAXCONNECTS</c>): 4 × the
    /// transfers it may run, <see cref="AsyncHttpClient.MaxClients"/> or <see cref="MultiCapacity"/>,
    /// whichever is fewer.
    /// </summary>
    internal int ConnectionCacheSize => (int)Math.Min(4L * Math.Min(MaxClients, MultiCapacity), int.MaxValue);

    /// <summary>The most transfers one multi handle runs at once (<see cref="CurlMulti"/>); tests lower it.</summary>
    internal int MultiCapacity { get; set; } = DefaultMultiCapacity;

    /// <summary>The multi handles made so far (one until more than <see cref="MultiCapacity"/> transfers ran at once).</summary>
    internal int MultiCount => _multis.Count;

    /// <summary>Multi handles whose timer (the wake-up libcurl asked for) is set. Tests.</summary>
    internal int PendingMultiTimers => _multis.Count(multi => multi.Timer.IsPending);

    /// <summary>
    /// <see cref="MultiCapacity"/> by default. At 256 the two scans of a cache (see
    /// <see cref="CurlMulti"/>) stay small, and up to 256 concurrent requests share one cache, as
    /// they did with a single multi handle: a connection idle in one handle's cache cannot serve
    /// a transfer of another.
    /// </summary>
    internal const int DefaultMultiCapacity = 256;

    /// <summary>A new multi handle, its callbacks pointed at this client (through the handle's own data, which says which one calls).</summary>
    private unsafe CurlMulti AddMulti()
    {
        var multi = new CurlMulti(this);
        try
        {
            nint native = multi.Native;
            Check(LibCurl.curl_multi_setopt_ptr(native, CurlOpt.MultiSocketFunction, (nint)(delegate* unmanaged[Cdecl]<nint, int, int, nint, nint, int>)&SocketCallback));
            Check(LibCurl.curl_multi_setopt_ptr(native, CurlOpt.MultiSocketData, multi.NativeSelf));
            Check(LibCurl.curl_multi_setopt_ptr(native, CurlOpt.MultiTimerFunction, (nint)(delegate* unmanaged[Cdecl]<nint, CLong, nint, int>)&TimerCallback));
            Check(LibCurl.curl_multi_setopt_ptr(native, CurlOpt.MultiTimerData, multi.NativeSelf));

            // libcurl sizes its connection cache at 4 × the transfers added at the moment a
            // connection comes back, so as a burst drains the cache shrinks below the connections
            // open and each returned one closes the oldest idle: after 10,000 at once, 2,500 were
            // closed and opened again by the next burst. Fixed at that default's largest: as many
            // as can be busy at once, and room for idle ones to other origins.
            Check(LibCurl.curl_multi_setopt_long(native, CurlOpt.MultiMaxConnects, new CLong(ConnectionCacheSize)));
        }
        catch
        {
            multi.Dispose();
            throw;
        }

        _multis.Add(multi);
        return multi;
    }

    /// <summary>The first multi handle with room for one more transfer, or a new one.</summary>
    private CurlMulti MultiWithRoom()
    {
        foreach (CurlMulti multi in _multis)
        {
            if (multi.Running < MultiCapacity)
            {
                return multi;
            }
        }

        return AddMulti();
    }

    /// <summary>Takes <paramref name="transfer"/>'s easy handle out of its multi handle.</summary>
    private void RemoveFromMulti(CurlTransfer transfer)
    {
        CurlMulti multi = transfer.Multi!;
        _ = LibCurl.curl_multi_remove_handle(multi.Native, transfer.Easy.DangerousGetHandle());
        multi.Running--;
        transfer.Multi = null;
        if (multi.Running == 0 && multi != _multis[0])
        {
            multi.EmptySince = Loop.Time();
            ArmRetire();
        }
    }

    private void ArmRetire()
    {
        if (!_retireArmed && !IsClosed)
        {
            _retireArmed = true;
            _retire = Loop.CallLater(TimeSpan.FromSeconds(Math.Max(1, MaxIdleSeconds)), static state => ((CurlAsyncHttpClient)state!).RetireIdleMultis(), this);
        }
    }

    /// <summary>
    /// Cleans up every multi handle but the first that has run no transfer for the idle-connection
    /// limit: its cached connections are too old to be reused by then, and no transfer of another
    /// handle could take them, so they are closed instead of waiting open for a burst that may
    /// never come (libcurl prunes a cache only when a transfer of that handle connects).
    /// </summary>
    private void RetireIdleMultis()
    {
        _retireArmed = false;
        if (IsClosed)
        {
            return;
        }

        double now = Loop.Time();
        bool waiting = false;
        for (int i = _multis.Count - 1; i >= 1; i--)
        {
            CurlMulti multi = _multis[i];
            if (multi.Running > 0)
            {
                continue;
            }

            if (now - multi.EmptySince < MaxIdleSeconds)
            {
                waiting = true;
                continue;
            }

            _multis.RemoveAt(i);
            Loop.RemoveTimeout(multi.Timer);
            multi.Timer = default;

            // The cleanup closes its connections through the socket callbacks.
            _inCurl = true;
            try
            {
                multi.Dispose();
            }
            finally
            {
                _inCurl = false;
            }
        }

        if (waiting)
        {
            ArmRetire();
        }
    }

    /// <summary>How many times the client has called <c>curl_multi_socket_action</c> (diagnostics and tests). Loop thread only.</summary>
    internal long SocketActionCalls { get; private set; }

    /// <summary>How many progress reports curl has made to the client's transfers (diagnostics and tests). Loop thread only.</summary>
    internal long ProgressReports { get; set; }

    /// <summary>Tells <paramref name="multi"/> that <paramref name="fd"/> is ready (or its timers are due, for <see cref="CurlFlags.SocketTimeout"/>), then finishes what completed.</summary>
    private void SocketAction(CurlMulti multi, int fd, int events)
    {
        if (IsClosed)
        {
            return;
        }

        int code;
        SocketActionCalls++;
        _inCurl = true;
        try
        {
            do
            {
                code = LibCurl.curl_multi_socket_action(multi.Native, fd, events, out _);
            }
            while (code == -1);
        }
        finally
        {
            _inCurl = false;
        }

        if (code != 0)
        {
            Logger.LogError("curl_multi_socket_action failed: {Error}", LibCurl.MultiErrorText(code));
        }

        ProcessMessages(multi);
    }

    /// <summary>Finishes every transfer <paramref name="multi"/> reports done.</summary>
    private unsafe void ProcessMessages(CurlMulti multi)
    {
        // A caller's continuation (run inline by Deliver) may close the client: stop then.
        while (!IsClosed)
        {
            LibCurl.Message* message = LibCurl.curl_multi_info_read(multi.Native, out _);
            if (message is null)
            {
                break;
            }

            if (message->Kind != CurlFlags.MessageDone || !_transfers.Remove(message->Easy, out CurlTransfer? transfer))
            {
                continue;
            }

            int result = message->Result;
            RemoveFromMulti(transfer);
            if (transfer.RetryOnFreshConnection(result)
                && LibCurl.curl_multi_add_handle(multi.Native, transfer.Easy.DangerousGetHandle()) == 0)
            {
                // Its connection had unread bytes before the request went out: once more, on a new
                // one, from the same multi handle (whose cache had the connection it left).
                multi.Running++;
                transfer.Multi = multi;
                _transfers[transfer.Easy.DangerousGetHandle()] = transfer;
                continue;
            }

            transfer.Complete(result);
            ReturnHandle(transfer.Easy);
            transfer.Deliver();
        }

        if (_transfers.Count == 0 && _tickArmed)
        {
            Loop.RemoveTimeout(_tick);
            _tickArmed = false;
        }
    }

    private void ArmSafetyTick()
    {
        if (!_tickArmed)
        {
            _tickArmed = true;
            _tick = Loop.CallLater(s_safetyTick, static state => ((CurlAsyncHttpClient)state!).OnSafetyTick(), this);
        }
    }

    private void OnSafetyTick()
    {
        _tickArmed = false;

        // By index: a transfer that a completion starts may add a multi handle meanwhile.
        for (int i = 0; i < _multis.Count && !IsClosed; i++)
        {
            if (_multis[i].Running > 0)
            {
                SocketAction(_multis[i], CurlFlags.SocketTimeout, 0);
            }
        }

        if (_transfers.Count > 0)
        {
            ArmSafetyTick();
        }
    }

    private void OnTimer(CurlMulti multi)
    {
        multi.Timer = default;
        if (multi.IsDisposed)
        {
            return;
        }

        SocketAction(multi, CurlFlags.SocketTimeout, 0);

        // curl may want another timeout it did not announce while handling this one.
        if (!IsClosed && LibCurl.curl_multi_timeout(multi.Native, out CLong next) == 0 && next.Value >= 0 && !multi.Timer.IsPending)
        {
            SetTimer(multi, next.Value);
        }
    }

    private void SetTimer(CurlMulti multi, long milliseconds)
    {
        // A handle being cleaned up (retired, or the client closing) may still report a timeout:
        // nothing may call it afterwards.
        if (milliseconds < 0 || multi.IsDisposed)
        {
            Loop.RemoveTimeout(multi.Timer);
            multi.Timer = default;
            return;
        }

        // curl moves its deadline on with every step of a transfer: a wake-up already set for no
        // later than the new one stays (firing early costs one call that finds nothing due, and
        // OnTimer then asks curl for the next deadline), so most moves schedule nothing.
        double due = Loop.Time() + (milliseconds / 1000.0);
        if (multi.Timer.IsPending && multi.TimerDue <= due)
        {
            return;
        }

        Loop.RemoveTimeout(multi.Timer);
        multi.TimerDue = due;

        // Zero too goes through the loop: curl must not be called from inside its own callback.
        multi.Timer = Loop.CallLater(TimeSpan.FromMilliseconds(milliseconds), static state => ((CurlMulti)state!).Client.OnTimer((CurlMulti)state!), multi);
    }

    private static void Check(int code)
    {
        if (code != 0)
        {
            throw new InvalidOperationException($"curl_multi_setopt failed: {LibCurl.MultiErrorText(code)}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int TimerCallback(nint multi, CLong milliseconds, nint self)
    {
        if (CurlMulti.FromNative(self) is not { } owner)
        {
            return -1;
        }

        CurlAsyncHttpClient client = owner.Client;
        try
        {
            client.SetTimer(owner, milliseconds.Value);
            return 0;
        }
        catch (Exception e)
        {
            client.Logger.LogError(e, "Cannot set curl's timer");
            return -1;
        }
    }
}
