namespace Loop.Polling;

/// <summary>
/// The AFD poll event bits and their translation to and from <see cref="IOEvents"/>, kept apart
/// from <see cref="AfdPoller"/> (which runs on Windows only) so the mapping can be tested
/// anywhere. The bits are those of wepoll's src/afd.h and mio's src/sys/windows/afd.rs
/// (<c>AFD_POLL_*</c>; ReactOS's include/reactos/drivers/afd/shared.h has the same values).
/// </summary>
internal static class AfdEvents
{
    internal const uint Receive = 0x0001;
    internal const uint ReceiveExpedited = 0x0002;
    internal const uint Send = 0x0004;
    internal const uint Disconnect = 0x0008;
    internal const uint Abort = 0x0010;
    internal const uint LocalClose = 0x0020;
    internal const uint Accept = 0x0080;
    internal const uint ConnectFail = 0x0100;

    /// <summary>
    /// What every poll asks for whatever the interest: the socket closing under its registration,
    /// and the errors that <see cref="IOEvents.Error"/> stands for (always delivered, as epoll
    /// always reports EPOLLERR and EPOLLHUP).
    /// </summary>
    internal const uint AlwaysWatched = LocalClose | Abort | ConnectFail;

    /// <summary>wepoll's <c>sock__epoll_events_to_afd_events</c>, for the two interests the loop has.</summary>
    internal static uint ForInterest(IOEvents interest)
    {
        uint afd = AlwaysWatched;
        if ((interest & IOEvents.Read) != 0)
        {
            // A pending accept is a listening socket's "readable"; a graceful close (FIN) is
            // read as the end of the stream, as EPOLLIN reports it on Linux.
            afd |= Receive | Accept | Disconnect;
        }

        if ((interest & IOEvents.Write) != 0)
        {
            afd |= Send;
        }

        return afd;
    }

    /// <summary>
    /// What a completion's AFD events mean to the loop. Receive, accept and expedited data are
    /// readable; a graceful disconnect reads as the end of the stream (wepoll: EPOLLIN |
    /// EPOLLRDHUP). A failed connect is readable, writable and an error, as Linux reports it
    /// (wepoll's comment on AFD_POLL_CONNECT_FAIL). An abort (a reset from the peer) is readable,
    /// writable and an error, as mio's READABLE_FLAGS and WRITABLE_FLAGS count it and as epoll
    /// reports a reset: whatever the handler is waiting for now fails and tells it why, so a
    /// handler that only writes does not spin on an error it never looks at.
    /// </summary>
    internal static IOEvents ToIOEvents(uint afd)
    {
        IOEvents ready = IOEvents.None;
        if ((afd & (Receive | Accept | ReceiveExpedited | Disconnect)) != 0)
        {
            ready |= IOEvents.Read;
        }

        if ((afd & Send) != 0)
        {
            ready |= IOEvents.Write;
        }

        if ((afd & (Abort | ConnectFail)) != 0)
        {
            ready |= IOEvents.Read | IOEvents.Write | IOEvents.Error;
        }

        return ready;
    }
}
