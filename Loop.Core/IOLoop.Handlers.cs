using System.Net.Sockets;
using System.Runtime.InteropServices;
using Loop.Interop;
using Loop.Polling;

namespace Loop;

public sealed partial class IOLoop
{
    // Handlers live in an array indexed by descriptor. Each registration has a generation,
    // carried in the poller token beside the descriptor, so an event fetched for a descriptor
    // that a handler earlier in the same batch removed (and maybe re-registered under the same
    // number) is recognised as stale and dropped (libuv's uv__platform_invalidate_fd).
    private Registration?[] _handlers = new Registration?[64];

    // The events the last poll fetched (in _events) and how far Dispatch has got through them:
    // a budgeted tick can leave some for the next.
    private int _eventCount;
    private int _eventCursor;
    private int _handlerCount;
    private uint _generation;

    /// <summary>How many times a handler of a ready descriptor was called, ever (diagnostics and tests). Loop thread only.</summary>
    internal long HandlerCalls { get; private set; }

    /// <summary>Registered handlers, not counting the loop's own waker. Loop thread only.</summary>
    public int HandlerCount => _handlerCount;

    /// <summary>
    /// Calls <paramref name="handler"/> whenever <paramref name="fd"/> has any of
    /// <paramref name="events"/> ready (level-triggered), until <see cref="RemoveHandler(int)"/>.
    /// <see cref="IOEvents.Error"/> is always delivered. The descriptor stays the caller's: the
    /// loop closes it only in <c>Close(allFds: true)</c>. Remove the handler before closing the
    /// descriptor. Loop thread only. On Windows only sockets can be watched, and
    /// <paramref name="fd"/> is the SOCKET handle as an <see cref="int"/> (<c>(int)socket.Handle</c>:
    /// Windows kernel handles have 32 significant bits).
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="fd"/> is already registered with this loop.</exception>
    /// <exception cref="System.ComponentModel.Win32Exception">The kernel refused it (for example, it is not open).</exception>
    public void AddHandler(int fd, IOHandler handler, IOEvents events) => Register(fd, handler, events, owner: null, addedRef: false);

    /// <summary>
    /// Registers the descriptor that <paramref name="handle"/> owns, as
    /// <see cref="AddHandler(int, IOHandler, IOEvents)"/> does. The loop holds a reference on
    /// the handle until the handler is removed, so the descriptor number cannot be closed and
    /// reused under it; <c>Close(allFds: true)</c> disposes the handle.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The handle is closed.</exception>
    public void AddHandler(SafeHandle handle, IOHandler handler, IOEvents events)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ObjectDisposedException.ThrowIf(handle.IsClosed || handle.IsInvalid, handle);
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            Register(DescriptorOf(handle), handler, events, handle, added);
        }
        catch
        {
            if (added)
            {
                handle.DangerousRelease();
            }

            throw;
        }
    }

    /// <summary>
    /// Registers <paramref name="socket"/>'s descriptor, as <see cref="AddHandler(int, IOHandler, IOEvents)"/>
    /// does; <c>Close(allFds: true)</c> disposes the socket. No reference is held on the socket's
    /// handle (disposing a <see cref="Socket"/> waits for such references to be released), so
    /// remove the handler before disposing the socket. Do not mix this with the socket's own
    /// async methods, which register it with .NET's engine instead.
    /// </summary>
    public void AddHandler(Socket socket, IOHandler handler, IOEvents events)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Register(DescriptorOf(socket), handler, events, socket, addedRef: false);
    }

    /// <summary>Changes the events watched for a registered descriptor. Loop thread only.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="fd"/> is not registered.</exception>
    public void UpdateHandler(int fd, IOEvents events)
    {
        Registration registration = Find(fd) ?? throw new InvalidOperationException($"File descriptor {fd} is not registered with this loop.");
        events &= IOEvents.Read | IOEvents.Write;
        if (registration.Events == events)
        {
            return;
        }

        _poller.Modify(fd, events, registration.Token);
        registration.Events = events;
    }

    /// <summary>Changes the events watched for a registered handle.</summary>
    public void UpdateHandler(SafeHandle handle, IOEvents events) => UpdateHandler(DescriptorOf(handle), events);

    /// <summary>Changes the events watched for a registered socket.</summary>
    public void UpdateHandler(Socket socket, IOEvents events) => UpdateHandler(DescriptorOf(socket), events);

    /// <summary>
    /// Stops watching <paramref name="fd"/>. An event already fetched for it in the current
    /// iteration is not delivered. Removing a descriptor that is not registered does nothing.
    /// Loop thread only.
    /// </summary>
    public void RemoveHandler(int fd)
    {
        Registration? registration = Find(fd);
        if (registration is null)
        {
            return;
        }

        _handlers[fd] = null;
        _handlerCount--;
        try
        {
            _poller.Remove(fd);
        }
        finally
        {
            ReleaseOwnerRef(registration);
        }
    }

    /// <summary>Stops watching a registered handle and releases the loop's reference on it. Unknown handles are ignored.</summary>
    public void RemoveHandler(SafeHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        RemoveHandler(DescriptorOf(handle));
    }

    /// <summary>
    /// Stops watching a registered socket. Unknown sockets are ignored. A socket disposed while
    /// still registered is found by a scan of the registrations rather than by its number,
    /// which the kernel may already have given to another descriptor.
    /// </summary>
    public void RemoveHandler(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        int fd = DescriptorOf(socket);
        if (fd >= 0 && ReferenceEquals(Find(fd)?.Owner, socket))
        {
            RemoveHandler(fd);
            return;
        }

        for (fd = 0; fd < _handlers.Length; fd++)
        {
            if (ReferenceEquals(_handlers[fd]?.Owner, socket))
            {
                RemoveHandler(fd);
                return;
            }
        }
    }

    private static int DescriptorOf(SafeHandle handle) => (int)handle.DangerousGetHandle();

    private static int DescriptorOf(Socket socket) => (int)socket.SafeHandle.DangerousGetHandle();

    private void Register(int fd, IOHandler handler, IOEvents events, object? owner, bool addedRef)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        ArgumentNullException.ThrowIfNull(handler);
        ThrowIfClosed();
        if (fd < _handlers.Length && _handlers[fd] is not null)
        {
            throw new InvalidOperationException($"File descriptor {fd} is already registered with this loop (added twice).");
        }

        if (fd >= _handlers.Length)
        {
            Array.Resize(ref _handlers, Math.Max(fd + 1, _handlers.Length * 2));
        }

        // Generation 0 is never used, so a zeroed token can never match.
        uint generation = ++_generation;
        if (generation == 0 || generation == uint.MaxValue)
        {
            generation = _generation = 1;
        }

        var registration = new Registration(fd, handler, events & (IOEvents.Read | IOEvents.Write), owner, addedRef, generation);
        _poller.Add(fd, registration.Events, registration.Token);
        _handlers[fd] = registration;
        _handlerCount++;
    }

    private Registration? Find(int fd) => (uint)fd < (uint)_handlers.Length ? _handlers[fd] : null;

    /// <summary>
    /// Calls the handlers of the events the last poll fetched, from <c>_eventCursor</c>, while
    /// <paramref name="allowance"/> lasts; what it leaves is dispatched before the next poll.
    /// </summary>
    private void Dispatch(ref Allowance allowance)
    {
        PollerEvent[] events = _events;
        int called = 0;
        while (_eventCursor < _eventCount)
        {
            ref PollerEvent pending = ref events[_eventCursor];
            ulong token = pending.Token;
            if (token == WakerToken)
            {
                _eventCursor++;
                _waker.Drain();
                continue;
            }

            int fd = (int)(uint)token;
            Registration?[] handlers = _handlers;
            Registration? registration = (uint)fd < (uint)handlers.Length ? handlers[fd] : null;

            // Deliver only what the handler still wants: an earlier handler in this batch may have
            // changed its interest, or removed the descriptor (and maybe registered its number again).
            IOEvents ready = registration is not null && registration.Token == token
                ? pending.Events & (registration.Events | IOEvents.Error)
                : IOEvents.None;
            if (ready == IOEvents.None)
            {
                _eventCursor++;
                continue;
            }

            if (!allowance.AllowsHandler(called))
            {
                return;
            }

            _eventCursor++;
            allowance.TookHandler();
            called++;
            HandlerCalls++;
            try
            {
                registration!.Handler(fd, ready);
            }
            catch (Exception e)
            {
                CoreLog.HandlerFailed(_logger, fd, e);
            }
        }

        _eventCursor = 0;
        _eventCount = 0;
    }

    private void CloseHandlers(bool closeDescriptors)
    {
        Registration?[] handlers = _handlers;
        for (int fd = 0; fd < handlers.Length; fd++)
        {
            Registration? registration = handlers[fd];
            if (registration is null)
            {
                continue;
            }

            handlers[fd] = null;
            _poller.Remove(fd);
            ReleaseOwnerRef(registration);
            if (!closeDescriptors)
            {
                continue;
            }

            try
            {
                switch (registration.Owner)
                {
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                    default:
                        CloseDescriptor(fd);
                        break;
                }
            }
            catch (Exception e)
            {
                CoreLog.CloseFailed(_logger, fd, e);
            }
        }

        _handlerCount = 0;
    }

    /// <summary>Closes a bare descriptor the loop was given (a socket handle on Windows).</summary>
    private static void CloseDescriptor(int fd)
    {
        if (OperatingSystem.IsWindows())
        {
            if (WindowsWinsock.closesocket(fd) != 0)
            {
                throw NativeErrors.ForWin32("closesocket", Marshal.GetLastPInvokeError());
            }
        }
        else if (Libc.close(fd) != 0)
        {
            throw NativeErrors.For("close", Libc.LastErrno);
        }
    }

    /// <summary>The registered descriptors and their handlers, for diagnostics (a test saying what is still watched).</summary>
    internal IEnumerable<(int Fd, IOHandler Handler, IOEvents Events)> EnumerateHandlers()
    {
        for (int fd = 0; fd < _handlers.Length; fd++)
        {
            if (_handlers[fd] is { } registration)
            {
                yield return (fd, registration.Handler, registration.Events);
            }
        }
    }

    private static void ReleaseOwnerRef(Registration registration)
    {
        if (registration.AddedRef && registration.Owner is SafeHandle handle)
        {
            registration.AddedRef = false;
            handle.DangerousRelease();
        }
    }

    private sealed class Registration
    {
        internal readonly IOHandler Handler;
        internal readonly object? Owner;
        internal readonly ulong Token;
        internal IOEvents Events;
        internal bool AddedRef;

        internal Registration(int fd, IOHandler handler, IOEvents events, object? owner, bool addedRef, uint generation)
        {
            Handler = handler;
            Events = events;
            Owner = owner;
            AddedRef = addedRef;
            Token = ((ulong)generation << 32) | (uint)fd;
        }
    }
}
