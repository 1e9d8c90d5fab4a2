using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

// curl's sockets on the loop. curl says which of its sockets to watch and for what
// (CURLMOPT_SOCKETFUNCTION); the client also opens and closes the sockets of curl's connections
// itself (CURLOPT_OPENSOCKETFUNCTION, CURLOPT_CLOSESOCKETFUNCTION), so it knows when a socket
// ends and its number may come back as another socket. That lets a kept-alive connection cost no
// syscalls of ours between requests:
// - a connection's socket is "tracked" once the transfer that opened it asks for it to be read
//   (it is connected then, and its close comes through our callback: libcurl 7.88 closes an
//   active connection socket with conn->fclosesocket, lib/cf-socket.c socket_close). Sockets
//   curl closes itself (the threaded resolver's socket pair, connect attempts that lost) are never
//   tracked: not opened through our callback, or never read;
// - when curl stops watching a tracked socket (its transfer is done; the connection waits in
//   curl's cache), it stays registered with the loop for reading ("parked"), and curl's next
//   request on it changes nothing: two epoll_ctl calls fewer per request. An event on a parked
//   socket (the server closed it, or sent bytes nobody asked for) only unregisters it: curl is
//   not watching it, and finds out itself when it next uses the connection;
// - a tracked socket's ports are read once, so the check before each request (OnConnectionChosen)
//   finds the socket by its ports without asking the kernel.
// Untracked sockets are handled as before: removed when curl stops watching them, removed and
// added again when curl changes what it wants (the number may be a new socket by then), and
// found by their ports with a getsockname/getpeername check per request.
public sealed partial class CurlAsyncHttpClient
{
    /// <summary>What the client knows of one of curl's socket descriptors.</summary>
    private struct SocketState
    {
        /// <summary>Opened by <see cref="OpenSocketCallback"/>, and not yet closed by <see cref="CloseSocketCallback"/>.</summary>
        public bool Own;

        /// <summary>Own, connected, and read by the transfer that opened it: its close is reported to <see cref="ForgetSocket"/>.</summary>
        public bool Tracked;

        /// <summary>Registered with the loop (for <see cref="Registered"/>).</summary>
        public bool IsRegistered;

        /// <summary>curl watches it now (a socket callback other than REMOVE was the last).</summary>
        public bool Wanted;

        /// <summary>The events registered with the loop while <see cref="IsRegistered"/>.</summary>
        public IOEvents Registered;

        /// <summary>The key of its ports in <see cref="_socketByPorts"/> (local port in the high half, remote in the low), or -1.</summary>
        public int Ports;

        /// <summary>The <see cref="CurlTransfer.Serial"/> of the transfer that last used it (0: none known).</summary>
        public long LastUser;

        /// <summary>In <see cref="_counted"/>: a connection the <c>Loop.Http</c> meter counts.</summary>
        public bool Counted;

        /// <summary>The multi handle that last asked for it to be watched: its events go to that one.</summary>
        public CurlMulti? Multi;
    }

    private readonly Dictionary<int, SocketState> _socketStates = [];
    private readonly Dictionary<int, int> _socketByPorts = [];

    // The connections the meter counts, by socket (made only while someone listens).
    private Dictionary<int, CountedConnection>? _counted;

    /// <summary>The GCHandle of this client as native user data (the socket open and close callbacks' data).</summary>
    internal nint NativeSelf => GCHandle.ToIntPtr(_self);

    /// <summary>The open-socket callback, for CURLOPT_OPENSOCKETFUNCTION.</summary>
    internal static unsafe nint OpenSocketFunction => (nint)(delegate* unmanaged[Cdecl]<nint, int, int*, int>)&OpenSocketCallback;

    /// <summary>The close-socket callback, for CURLOPT_CLOSESOCKETFUNCTION.</summary>
    internal static unsafe nint CloseSocketFunction => (nint)(delegate* unmanaged[Cdecl]<nint, int, int>)&CloseSocketCallback;

    /// <summary>Descriptors registered with the loop for curl now (some parked: kept for curl's next request on them). Tests.</summary>
    internal int RegisteredSocketCount => CountSockets(static state => state.IsRegistered);

    /// <summary>Connections whose sockets the client tracks (opened and closed through its callbacks). Tests.</summary>
    internal int TrackedSocketCount => CountSockets(static state => state.Tracked);

    private int CountSockets(Func<SocketState, bool> which)
    {
        int count = 0;
        foreach (SocketState state in _socketStates.Values)
        {
            count += which(state) ? 1 : 0;
        }

        return count;
    }

    private static int PortsKey(int localPort, int remotePort) => (localPort << 16) | (remotePort & 0xFFFF);

    /// <summary>
    /// The descriptor of curl's connection from <paramref name="localPort"/> to
    /// <paramref name="remotePort"/>, or -1. A tracked connection is known by its ports without a
    /// syscall; another one is checked (getsockname, getpeername) and, if not known yet, looked
    /// for among every socket curl has given the client.
    /// </summary>
    internal int FindConnection(int localPort, int remotePort)
    {
        int key = PortsKey(localPort, remotePort);
        if (_socketByPorts.TryGetValue(key, out int known))
        {
            if (_socketStates.TryGetValue(known, out SocketState state) && state.Tracked && state.Ports == key)
            {
                return known;
            }

            if (LibCurl.IsConnection(known, localPort, remotePort))
            {
                return known;
            }

            _socketByPorts.Remove(key);
        }

        foreach ((int fd, SocketState state) in _socketStates)
        {
            // A tracked socket's ports are known: only the others are asked.
            if (!state.Tracked && LibCurl.IsConnection(fd, localPort, remotePort))
            {
                _socketByPorts[key] = fd;
                return fd;
            }
        }

        return -1;
    }

    /// <summary>The <see cref="CurlTransfer.Serial"/> of the transfer that last used socket <paramref name="fd"/>, or 0.</summary>
    internal long LastUserOf(int fd) => _socketStates.TryGetValue(fd, out SocketState state) ? state.LastUser : 0;

    private void WatchSocket(CurlMulti multi, nint easy, int fd, int what)
    {
        ref SocketState state = ref CollectionsMarshal.GetValueRefOrAddDefault(_socketStates, fd, out bool existed);
        if (!existed)
        {
            state.Ports = -1;
        }

        if (what == CurlFlags.PollRemove)
        {
            state.Wanted = false;
            if (state.Counted)
            {
                _counted![fd].MoveTo(active: false);
            }

            if (!state.IsRegistered)
            {
                return;
            }

            if (!state.Tracked)
            {
                state.IsRegistered = false;
                Loop.RemoveHandler(fd);
            }
            else if (state.Registered != IOEvents.Read)
            {
                // Parked for reading only: an idle socket is always writable.
                Loop.UpdateHandler(fd, IOEvents.Read);
                state.Registered = IOEvents.Read;
            }

            return;
        }

        IOEvents events = IOEvents.None;
        if ((what & CurlFlags.PollIn) != 0)
        {
            events |= IOEvents.Read;
        }

        if ((what & CurlFlags.PollOut) != 0)
        {
            events |= IOEvents.Write;
        }

        state.Wanted = true;
        state.Multi = multi;
        CurlTransfer? user = _transfers.GetValueOrDefault(easy);
        state.LastUser = user?.Serial ?? 0;
        if (!state.Tracked && (state.Ports < 0 || (state.Own && (events & IOEvents.Read) != 0)) && user is not null && user.MadeConnection)
        {
            Identify(ref state, fd, user, events);
        }

        if (state.Counted)
        {
            _counted![fd].MoveTo(active: true);
        }
        else if (state.Own && (events & IOEvents.Read) != 0 && user is not null && (HttpTelemetry.OpenConnections.Enabled || HttpTelemetry.ConnectionDuration.Enabled))
        {
            CountConnection(ref state, fd, user);
        }

        if (state.IsRegistered && state.Tracked)
        {
            // The same socket as when it was registered (its close would have been reported).
            if (state.Registered != events)
            {
                Loop.UpdateHandler(fd, events);
                state.Registered = events;
            }

            return;
        }

        // curl may have closed an untracked socket and opened another under the same number
        // without telling us: remove and add again rather than update.
        if (state.IsRegistered)
        {
            state.IsRegistered = false;
            Loop.RemoveHandler(fd);
        }

        Loop.AddHandler(fd, _onSocketEvent, events);
        state.IsRegistered = true;
        state.Registered = events;
    }

    /// <summary>
    /// A socket of a connection <paramref name="user"/> made: its ports are read once (so the
    /// pre-request check never searches every socket for it, which with thousands of connections
    /// cost a syscall pair per socket on each first reuse), and it is tracked if its close will
    /// be reported to us.
    /// </summary>
    private void Identify(ref SocketState state, int fd, CurlTransfer user, IOEvents events)
    {
        if (state.Ports < 0)
        {
            // Not connected yet (a connect attempt): asked again at the next callback.
            if (!LibCurl.TryGetPorts(fd, out int localPort, out int remotePort))
            {
                return;
            }

            state.Ports = PortsKey(localPort, remotePort);
            _socketByPorts[state.Ports] = fd;
        }

        // Read: connected and in use (a connect attempt is only written to). A transfer with a
        // PrepareCurlCallback may have set socket callbacks of its own: its sockets stay untracked.
        state.Tracked = state.Own && (events & IOEvents.Read) != 0 && !user.Customized;
    }

    /// <summary>curl closes socket <paramref name="fd"/>: everything known of that number goes.</summary>
    private void ForgetSocket(int fd)
    {
        if (!_socketStates.Remove(fd, out SocketState state))
        {
            return;
        }

        if (state.Counted && _counted!.Remove(fd, out CountedConnection? counted))
        {
            counted.Close();
        }

        if (state.IsRegistered)
        {
            Loop.RemoveHandler(fd);
        }

        if (state.Ports >= 0 && _socketByPorts.TryGetValue(state.Ports, out int known) && known == fd)
        {
            _socketByPorts.Remove(state.Ports);
        }
    }

    /// <summary>Unregisters every socket (the client is closing; curl has closed its connections).</summary>
    private void ForgetAllSockets()
    {
        foreach ((int fd, SocketState state) in _socketStates)
        {
            if (state.IsRegistered)
            {
                Loop.RemoveHandler(fd);
            }

            if (state.Counted && _counted!.Remove(fd, out CountedConnection? counted))
            {
                counted.Close();
            }
        }

        _socketStates.Clear();
        _socketByPorts.Clear();
    }

    /// <summary>
    /// A socket of ours that curl reads for <paramref name="user"/> (so connected: a connect
    /// attempt is only written to), first seen so while someone listens to the connection
    /// instruments: counted as an open, active connection from now until curl closes it.
    /// </summary>
    private void CountConnection(ref SocketState state, int fd, CurlTransfer user)
    {
        FetchState fetch = user.Fetch;
        RequestUrl url = fetch.Url;
        string version = fetch.Request.HttpVersion is { Major: 2 } ? "2" : "1.1";
        _counted ??= [];
        _counted[fd] = new CountedConnection(HttpTelemetry.ConnectionTags(url.Host, url.Port, url.IsHttps, peerAddress: null, version));
        state.Counted = true;
    }

    /// <summary>One of curl's connections as the meter sees it: active while curl watches its socket, idle while curl keeps it unwatched.</summary>
    private sealed class CountedConnection
    {
        private readonly TagList _tags;
        private readonly long _openedAt = Stopwatch.GetTimestamp();
        private readonly bool _counted = HttpTelemetry.OpenConnections.Enabled;
        private readonly bool _timed = HttpTelemetry.ConnectionDuration.Enabled;
        private bool _active = true;

        public CountedConnection(TagList tags)
        {
            _tags = tags;
            if (_counted)
            {
                HttpTelemetry.OpenConnections.Add(1, WithState(active: true));
            }
        }

        public void MoveTo(bool active)
        {
            if (_active == active)
            {
                return;
            }

            if (_counted)
            {
                HttpTelemetry.OpenConnections.Add(-1, WithState(_active));
                HttpTelemetry.OpenConnections.Add(1, WithState(active));
            }

            _active = active;
        }

        public void Close()
        {
            if (_counted)
            {
                HttpTelemetry.OpenConnections.Add(-1, WithState(_active));
            }

            if (_timed)
            {
                HttpTelemetry.ConnectionDuration.Record(Stopwatch.GetElapsedTime(_openedAt).TotalSeconds, _tags);
            }
        }

        private TagList WithState(bool active)
        {
            TagList tags = _tags;
            tags.Add("http.connection.state", active ? "active" : "idle");
            return tags;
        }
    }

    private void OnSocketEvent(int fd, IOEvents events)
    {
        ref SocketState state = ref CollectionsMarshal.GetValueRefOrNullRef(_socketStates, fd);
        if (!Unsafe.IsNullRef(ref state) && !state.Wanted)
        {
            // A parked socket became readable (closed by the server, or bytes nobody asked for):
            // curl is not watching it and finds out when it next takes the connection.
            state.IsRegistered = false;
            Loop.RemoveHandler(fd);
            return;
        }

        int action = 0;
        if ((events & IOEvents.Read) != 0)
        {
            action |= CurlFlags.SelectIn;
        }

        if ((events & IOEvents.Write) != 0)
        {
            action |= CurlFlags.SelectOut;
        }

        if ((events & IOEvents.Error) != 0)
        {
            action |= CurlFlags.SelectError;
        }

        // A socket with no state was never announced by curl: the first multi handle is asked.
        CurlMulti multi = Unsafe.IsNullRef(ref state) || state.Multi is null ? _multis[0] : state.Multi;
        if (multi.IsDisposed)
        {
            // Its multi handle was retired (RetireIdleMultis), which closes what it knew of.
            if (!Unsafe.IsNullRef(ref state))
            {
                state.IsRegistered = false;
            }

            Loop.RemoveHandler(fd);
            return;
        }

        SocketAction(multi, fd, action);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int SocketCallback(nint easy, int fd, int what, nint self, nint socketData)
    {
        if (CurlMulti.FromNative(self) is not { } multi)
        {
            return -1;
        }

        CurlAsyncHttpClient client = multi.Client;
        try
        {
            client.WatchSocket(multi, easy, fd, what);
            return 0;
        }
        catch (Exception e)
        {
            // Never across into libcurl: the transfer on that socket fails instead.
            client.Logger.LogError(e, "Cannot watch curl's socket {Fd}", fd);
            if (client._transfers.TryGetValue(easy, out CurlTransfer? transfer))
            {
                transfer.SetCallbackError(e);
            }

            return -1;
        }
    }

    /// <summary>CURLOPT_OPENSOCKETFUNCTION: the socket curl would make (struct curl_sockaddr starts with family, type, protocol), remembered as ours.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int OpenSocketCallback(nint self, int purpose, int* address)
    {
        int fd = LibCurl.OpenSocket(address[0], address[1], address[2]);
        if (fd < 0 || GCHandle.FromIntPtr(self).Target is not CurlAsyncHttpClient client)
        {
            return fd;
        }

        try
        {
            // The number is a new socket: whatever was known of it (a socket curl closed itself) is stale.
            client.ForgetSocket(fd);
            ref SocketState state = ref CollectionsMarshal.GetValueRefOrAddDefault(client._socketStates, fd, out _);
            state.Own = true;
            state.Ports = -1;
        }
        catch (Exception e)
        {
            client.Logger.LogError(e, "Cannot note curl's new socket {Fd}", fd);
        }

        return fd;
    }

    /// <summary>CURLOPT_CLOSESOCKETFUNCTION: forgets the socket, then closes it (0, or 1 if close failed).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int CloseSocketCallback(nint self, int fd)
    {
        if (GCHandle.FromIntPtr(self).Target is CurlAsyncHttpClient client)
        {
            try
            {
                client.ForgetSocket(fd);
            }
            catch (Exception e)
            {
                client.Logger.LogError(e, "Cannot forget curl's socket {Fd}", fd);
            }
        }

        return LibCurl.CloseSocket(fd) == 0 ? 0 : 1;
    }
}
