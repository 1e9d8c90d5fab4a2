using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Loop.Interop;
using static Loop.Interop.WindowsNtDll;
using static Loop.Polling.AfdEvents;

namespace Loop.Polling;

/// <summary>
/// Windows readiness the way wepoll, mio and libuv get it: one AFD poll request
/// (IOCTL_AFD_POLL on a <c>\Device\Afd</c> handle) per socket, completing on an I/O completion
/// port, and <c>GetQueuedCompletionStatusEx</c> as the wait. A wake from another thread is a
/// packet posted to the port (<see cref="IocpWaker"/>), told apart by its completion key.
/// </summary>
/// <remarks>
/// <para>
/// Protocol, per socket (wepoll's sock.c): an AFD poll is one-shot. A socket is <c>Idle</c>
/// (nothing submitted), <c>Pending</c> (a poll for <see cref="SocketState.PendingMask"/> is in
/// the kernel) or <c>Cancelled</c> (its poll was cancelled and the completion has not come back
/// yet). A completion makes it Idle and puts it on the update queue; every <see cref="Wait"/>
/// first submits a new poll for each queued socket, after the loop has run the handlers of the
/// last batch. That re-arm is what makes the registration level-triggered: a socket still
/// readable completes its new poll at once. A change of interest that the pending poll already
/// covers changes nothing in the kernel (the completion is filtered by the current interest);
/// a wider one cancels the poll, and its completion re-arms with the new mask.
/// </para>
/// <para>
/// Memory: each socket has one native block (<see cref="PollBlock"/>: the IO_STATUS_BLOCK and
/// the AFD_POLL_INFO the kernel writes on completion), allocated with
/// <see cref="NativeMemory"/> so it never moves. It is freed only when no request on it is
/// outstanding: a socket removed with a poll in flight is cancelled, and its block is freed
/// when the cancelled completion is dequeued. <see cref="Dispose"/> cancels everything and
/// drains those completions before it frees anything.
/// </para>
/// <para>
/// AFD handles: sockets are spread over AFD handles, 32 per handle, as wepoll's poll groups do
/// (<c>POLL_GROUP__MAX_GROUP_SIZE</c>): AFD walks every request on a handle when any of them
/// completes, so one handle for thousands of sockets makes each completion cost O(sockets).
/// </para>
/// <para>
/// Sockets only: AFD polls sockets, not pipes or files. A descriptor here is a SOCKET handle
/// carried as an <see cref="int"/>; Windows kernel handles have 32 significant bits (they are
/// sign-extended when a 32-bit handle value is widened, which is what WOW64 relies on).
/// </para>
/// </remarks>
[SupportedOSPlatform("windows")]
internal sealed unsafe class AfdPoller : IPoller
{
    // Completion keys: AFD handles are associated with the port under key 0, posted wakes use 1.
    private const nuint AfdKey = 0;
    private const nuint WakeKey = 1;

    // wepoll's POLL_GROUP__MAX_GROUP_SIZE.
    private const int SocketsPerAfdHandle = 32;

    // How long Dispose waits for cancelled polls to come back before it gives up and leaks their
    // blocks rather than free memory the kernel may still write. Cancellation of an AFD poll
    // completes at once in practice; the bound only keeps a broken driver from hanging Dispose.
    private const int DrainLimitMilliseconds = 5000;

    private readonly WindowsKernelHandle _port;
    private readonly nint _portHandle;
    private readonly int _capacity;
    private readonly WindowsKernel32.OverlappedEntry[] _entries;
    private readonly WindowsKernel32.OverlappedEntry* _entriesPointer;
    private readonly List<AfdHandle> _afdHandles = [];
    private readonly Dictionary<int, SocketState> _sockets = [];

    // Every socket with a native block, registered or waiting for its cancelled poll, by the slot
    // its block names: a completion finds its socket through the block.
    private SocketState?[] _slots = new SocketState?[16];
    private int[] _freeSlots = new int[16];
    private int _freeSlotCount;
    private int _slotsUsed;

    // Sockets whose poll must be (re)submitted before the next wait: wepoll's update queue
    // (a registration submits its first poll at once).
    private SocketState[] _updates = new SocketState[16];
    private int _updateCount;

    // Polls submitted whose completion has not been dequeued yet.
    private int _outstanding;

    private ulong _wakeToken;
    private bool _hasWaker;
    private bool _disposed;

    internal AfdPoller(int capacity)
    {
        nint port = WindowsKernel32.CreateIoCompletionPort(-1, 0, 0, 1);
        if (port == 0)
        {
            throw NativeErrors.ForWin32("CreateIoCompletionPort", Marshal.GetLastPInvokeError());
        }

        _port = new WindowsKernelHandle(port);
        _portHandle = port;
        _capacity = capacity;
        _entries = GC.AllocateArray<WindowsKernel32.OverlappedEntry>(capacity, pinned: true);
        _entriesPointer = (WindowsKernel32.OverlappedEntry*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_entries));
    }

    private enum PollStatus
    {
        /// <summary>No poll in the kernel; the block is the poller's to write.</summary>
        Idle,

        /// <summary>A poll for <see cref="SocketState.PendingMask"/> is in the kernel; its completion will come.</summary>
        Pending,

        /// <summary>The poll was cancelled; its completion (STATUS_CANCELLED, or the events it had already seen) will still come.</summary>
        Cancelled,
    }

    public PollerBackend Backend => PollerBackend.Iocp;

    /// <summary>Always -1: a completion port is not a descriptor a Unix-style host could poll.</summary>
    public int BackendFileDescriptor => -1;

    /// <summary>Sockets registered (not counting removed ones whose cancelled poll is still out). For tests.</summary>
    internal int RegisteredCount => _sockets.Count;

    /// <summary>Native blocks still allocated, including removed sockets waiting for their cancelled poll. For tests.</summary>
    internal int BlockCount => _slotsUsed;

    /// <summary>AFD handles opened so far. For tests.</summary>
    internal int AfdHandleCount => _afdHandles.Count;

    /// <summary>Polls submitted whose completion has not been dequeued yet. For tests.</summary>
    internal int OutstandingCount => _outstanding;

    /// <summary>How many pending polls were cancelled (a wider interest, a removal). For tests.</summary>
    internal long CancelCount { get; private set; }

    /// <summary>
    /// The waker for this poller: a wake posts a packet to the port, and <see cref="Wait"/>
    /// reports it as a readable event carrying <paramref name="token"/>.
    /// </summary>
    internal IWaker CreateWaker(ulong token)
    {
        _wakeToken = token;
        _hasWaker = true;
        return new IocpWaker(_port, WakeKey);
    }

    public void Add(int fd, IOEvents events, ulong token)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_sockets.ContainsKey(fd))
        {
            throw new InvalidOperationException($"Socket {fd} is already registered with this poller.");
        }

        nint baseHandle = BaseHandleOf(fd);
        AfdHandle afd = AcquireAfdHandle();
        var state = new SocketState(baseHandle, afd) { Interest = events, Token = token };
        state.Block = (PollBlock*)NativeMemory.AllocZeroed((nuint)sizeof(PollBlock));
        state.Block->Slot = TakeSlot(state);

        // The first poll goes in at once, so a handle AFD does not know is refused here, at
        // registration, as epoll_ctl refuses a bad descriptor.
        int status = Submit(state, ForInterest(events));
        if (status != StatusSuccess && status != StatusPending)
        {
            FreeBlock(state);
            throw NativeErrors.ForNtStatus("NtDeviceIoControlFile(IOCTL_AFD_POLL)", status);
        }

        afd.Count++;
        _sockets.Add(fd, state);
    }

    public void Modify(int fd, IOEvents events, ulong token)
    {
        if (!_sockets.TryGetValue(fd, out SocketState? state))
        {
            throw new InvalidOperationException($"Socket {fd} is not registered with this poller.");
        }

        state.Interest = events;
        state.Token = token;
        QueueUpdate(state);
    }

    public void Remove(int fd)
    {
        if (!_sockets.Remove(fd, out SocketState? state))
        {
            return;
        }

        state.IsRemoved = true;
        state.AfdHandle.Count--;
        if (state.Status == PollStatus.Pending)
        {
            Cancel(state);
        }

        if (state.Status == PollStatus.Idle)
        {
            FreeBlock(state);
        }

        // Cancelled: the block is freed when the cancelled completion is dequeued (FeedCompletion).
    }

    public int Wait(Span<PollerEvent> events, int timeoutMilliseconds)
    {
        SubmitUpdates();
        int max = Math.Min(events.Length, _capacity);
        uint removed = 0;
        uint wait = timeoutMilliseconds < 0 ? WindowsKernel32.Infinite : (uint)timeoutMilliseconds;
        if (WindowsKernel32.GetQueuedCompletionStatusEx(_portHandle, _entriesPointer, (uint)max, &removed, wait, alertable: 0) == 0)
        {
            int error = Marshal.GetLastPInvokeError();
            if (error == WindowsKernel32.WaitTimeout)
            {
                return 0;
            }

            throw NativeErrors.ForWin32("GetQueuedCompletionStatusEx", error);
        }

        int count = 0;
        for (int i = 0; i < (int)removed; i++)
        {
            ref WindowsKernel32.OverlappedEntry entry = ref _entriesPointer[i];
            if (entry.CompletionKey == WakeKey)
            {
                if (_hasWaker)
                {
                    events[count].Token = _wakeToken;
                    events[count].Events = IOEvents.Read;
                    count++;
                }

                continue;
            }

            if (FeedCompletion((PollBlock*)entry.Overlapped, out ulong token, out IOEvents ready))
            {
                events[count].Token = token;
                events[count].Events = ready;
                count++;
            }
        }

        // Packets came but none was an event for the loop (cancellations, events no longer
        // wanted): as after EINTR, the caller waits again for what is left of its timeout, so a
        // RunOnce that waits returns having done what it waited for.
        return count == 0 && removed > 0 ? -1 : count;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (SocketState state in _sockets.Values)
        {
            state.IsRemoved = true;
            if (state.Status == PollStatus.Pending)
            {
                Cancel(state);
            }
        }

        _sockets.Clear();
        _updateCount = 0;
        DrainOutstanding();
        for (int slot = 0; slot < _slots.Length; slot++)
        {
            if (_slots[slot] is { Status: PollStatus.Idle } state)
            {
                FreeBlock(state);
            }
        }

        foreach (AfdHandle afd in _afdHandles)
        {
            afd.Handle.Dispose();
        }

        _afdHandles.Clear();
        _port.Dispose();
    }

    /// <summary>
    /// The handle AFD knows the socket by, under any layered service providers: SIO_BASE_HANDLE,
    /// or SIO_BSP_HANDLE_POLL where a layered provider refuses that (mio, trio and wepoll do the same).
    /// </summary>
    private static nint BaseHandleOf(int fd)
    {
        // A handle widened from 32 bits is sign-extended (see the class remarks).
        nint socket = fd;
        nint baseHandle = 0;
        uint bytes = 0;
        if (WindowsWinsock.WSAIoctl(socket, WindowsWinsock.SioBaseHandle, null, 0, &baseHandle, (uint)sizeof(nint), &bytes, null, null) != WindowsWinsock.SocketError)
        {
            return baseHandle;
        }

        int error = Marshal.GetLastPInvokeError();
        if (WindowsWinsock.WSAIoctl(socket, WindowsWinsock.SioBspHandlePoll, null, 0, &baseHandle, (uint)sizeof(nint), &bytes, null, null) != WindowsWinsock.SocketError
            && baseHandle != socket)
        {
            return baseHandle;
        }

        // WSAENOTSOCK (10038) for a handle that is not a socket: AFD polls sockets only.
        throw NativeErrors.ForWin32("WSAIoctl(SIO_BASE_HANDLE)", error);
    }

    /// <summary>Opens an AFD handle and associates it with the port (wepoll's afd_create_device_handle).</summary>
    private AfdHandle OpenAfdHandle()
    {
        // Opening \Device\Afd with no extended attributes gives a handle that talks to the AFD
        // driver without being a socket itself. The name after the device is free-form.
        const string name = @"\Device\Afd\Loop";
        nint handle = 0;
        IoStatusBlock iosb = default;
        int status;
        fixed (char* chars = name)
        {
            var unicode = new UnicodeString
            {
                Length = (ushort)(name.Length * sizeof(char)),
                MaximumLength = (ushort)(name.Length * sizeof(char)),
                Buffer = chars,
            };
            var attributes = new ObjectAttributes
            {
                Length = (uint)sizeof(ObjectAttributes),
                ObjectName = &unicode,
            };
            status = NtCreateFile(&handle, Synchronize, &attributes, &iosb, null, 0, FileShareRead | FileShareWrite, FileOpen, 0, null, 0);
        }

        if (status != StatusSuccess)
        {
            throw NativeErrors.ForNtStatus(@"NtCreateFile(\Device\Afd)", status);
        }

        var owned = new WindowsKernelHandle(handle);
        try
        {
            if (WindowsKernel32.CreateIoCompletionPort(handle, _portHandle, AfdKey, 0) == 0)
            {
                throw NativeErrors.ForWin32("CreateIoCompletionPort(AFD)", Marshal.GetLastPInvokeError());
            }

            // Completions go to the port only; nobody waits on the handle itself.
            if (WindowsKernel32.SetFileCompletionNotificationModes(handle, WindowsKernel32.FileSkipSetEventOnHandle) == 0)
            {
                throw NativeErrors.ForWin32("SetFileCompletionNotificationModes", Marshal.GetLastPInvokeError());
            }
        }
        catch
        {
            owned.Dispose();
            throw;
        }

        return new AfdHandle(owned, handle);
    }

    /// <summary>An AFD handle with room for one more socket, opening one if all are full (wepoll's poll_group_acquire).</summary>
    private AfdHandle AcquireAfdHandle()
    {
        foreach (AfdHandle afd in _afdHandles)
        {
            // Counts only registered sockets: a removed one's cancelled poll on the handle is
            // about to finish and costs AFD nothing more.
            if (afd.Count < SocketsPerAfdHandle)
            {
                return afd;
            }
        }

        AfdHandle opened = OpenAfdHandle();
        _afdHandles.Add(opened);
        return opened;
    }

    private void QueueUpdate(SocketState state)
    {
        if (state.IsQueued)
        {
            return;
        }

        if (_updateCount == _updates.Length)
        {
            Array.Resize(ref _updates, _updates.Length * 2);
        }

        state.IsQueued = true;
        _updates[_updateCount++] = state;
    }

    /// <summary>Brings each queued socket's poll in line with its interest (wepoll's sock_update).</summary>
    private void SubmitUpdates()
    {
        for (int i = 0; i < _updateCount; i++)
        {
            SocketState state = _updates[i];
            _updates[i] = null!;
            state.IsQueued = false;
            if (state.IsRemoved || state.IsClosed)
            {
                continue;
            }

            uint wanted = ForInterest(state.Interest);
            switch (state.Status)
            {
                case PollStatus.Pending when (wanted & ~state.PendingMask) == 0:
                    // The poll in the kernel watches everything wanted and maybe more; an event
                    // no longer wanted is filtered when it completes, and the re-arm then uses
                    // the narrower mask.
                    break;
                case PollStatus.Pending:
                    // The poll misses something now wanted: cancel it, and its completion
                    // re-arms with the new mask.
                    Cancel(state);
                    break;
                case PollStatus.Cancelled:
                    break;
                default:
                    int status = Submit(state, wanted);
                    if (status == StatusInvalidHandle)
                    {
                        // The socket was closed while registered: it has nothing more to
                        // report (wepoll drops it from the set; here it stays registered,
                        // silent, until it is removed).
                        state.IsClosed = true;
                    }
                    else if (status != StatusSuccess && status != StatusPending)
                    {
                        throw NativeErrors.ForNtStatus("NtDeviceIoControlFile(IOCTL_AFD_POLL)", status);
                    }

                    break;
            }
        }

        _updateCount = 0;
    }

    /// <summary>
    /// Submits one AFD poll for <paramref name="mask"/> (wepoll's afd_poll). Returns the
    /// NTSTATUS: STATUS_SUCCESS or STATUS_PENDING when the poll is in (the socket is then
    /// Pending), an error otherwise.
    /// </summary>
    private int Submit(SocketState state, uint mask)
    {
        PollBlock* block = state.Block;
        block->Info.Timeout = long.MaxValue;
        block->Info.NumberOfHandles = 1;
        block->Info.Exclusive = 0;
        block->Info.Handle0.Handle = state.BaseHandle;
        block->Info.Handle0.Status = 0;
        block->Info.Handle0.Events = mask;
        block->IoStatus.Status = StatusPending;
        block->IoStatus.Information = 0;

        // The block is also the APC context, so the completion packet's lpOverlapped points at it.
        int status = NtDeviceIoControlFile(
            state.AfdHandle.Raw,
            0,
            null,
            block,
            &block->IoStatus,
            IoctlAfdPoll,
            &block->Info,
            (uint)sizeof(AfdPollInfo),
            &block->Info,
            (uint)sizeof(AfdPollInfo));

        // Success (it completed at once) still queues a packet: the AFD handle does not skip the
        // port on success. Both are pending as far as the block is concerned.
        if (status == StatusSuccess || status == StatusPending)
        {
            state.Status = PollStatus.Pending;
            state.PendingMask = mask;
            _outstanding++;
        }

        return status;
    }

    /// <summary>Cancels the socket's pending poll (wepoll's afd_cancel_poll); its completion still comes.</summary>
    private void Cancel(SocketState state)
    {
        PollBlock* block = state.Block;

        // Already completed (its packet is queued): nothing left to cancel.
        if (Volatile.Read(ref block->IoStatus.Value.Status) == StatusPending)
        {
            CancelCount++;
            IoStatusBlock cancelStatus = default;
            int status = NtCancelIoFileEx(state.AfdHandle.Raw, &block->IoStatus, &cancelStatus);

            // STATUS_NOT_FOUND: it completed between the check and the call.
            if (status != StatusSuccess && status != StatusNotFound)
            {
                throw NativeErrors.ForNtStatus("NtCancelIoFileEx", status);
            }
        }

        state.Status = PollStatus.Cancelled;
        state.PendingMask = 0;
    }

    /// <summary>
    /// Takes one AFD completion (wepoll's sock_feed_event): frees the block of a removed socket,
    /// queues a live one for its re-arm, and says what to report, if anything.
    /// </summary>
    private bool FeedCompletion(PollBlock* block, out ulong token, out IOEvents ready)
    {
        token = 0;
        ready = IOEvents.None;
        _outstanding--;
        SocketState state = _slots[block->Slot]!;
        state.Status = PollStatus.Idle;
        state.PendingMask = 0;
        if (state.IsRemoved)
        {
            FreeBlock(state);
            return false;
        }

        int status = block->IoStatus.Status;
        if (status == StatusCancelled)
        {
            // Cancelled to widen the interest: re-armed below with the new mask.
        }
        else if (status < 0)
        {
            // The request itself failed in an unexpected way.
            ready = IOEvents.Error;
        }
        else if (block->Info.NumberOfHandles < 1)
        {
            // Completed without an event for the socket.
        }
        else if ((block->Info.Handle0.Events & LocalClose) != 0)
        {
            // The socket was closed (closesocket) while registered: nothing more will come from
            // it, so it is not re-armed; it stays registered until the loop removes it.
            state.IsClosed = true;
            return false;
        }
        else
        {
            ready = ToIOEvents(block->Info.Handle0.Events);
        }

        QueueUpdate(state);
        ready &= state.Interest | IOEvents.Error;
        token = state.Token;
        return ready != IOEvents.None;
    }

    /// <summary>Waits for the completions of every poll still out, so their blocks can be freed.</summary>
    private void DrainOutstanding()
    {
        long deadline = Environment.TickCount64 + DrainLimitMilliseconds;
        while (_outstanding > 0)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                // Their blocks stay allocated: the kernel may still write them.
                return;
            }

            uint removed = 0;
            if (WindowsKernel32.GetQueuedCompletionStatusEx(_portHandle, _entriesPointer, (uint)_capacity, &removed, (uint)left, alertable: 0) == 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error == WindowsKernel32.WaitTimeout)
                {
                    return;
                }

                throw NativeErrors.ForWin32("GetQueuedCompletionStatusEx", error);
            }

            for (int i = 0; i < (int)removed; i++)
            {
                ref WindowsKernel32.OverlappedEntry entry = ref _entriesPointer[i];
                if (entry.CompletionKey != WakeKey)
                {
                    PollBlock* block = (PollBlock*)entry.Overlapped;
                    _outstanding--;
                    SocketState state = _slots[block->Slot]!;
                    state.Status = PollStatus.Idle;
                    FreeBlock(state);
                }
            }
        }
    }

    private int TakeSlot(SocketState state)
    {
        int slot;
        if (_freeSlotCount > 0)
        {
            slot = _freeSlots[--_freeSlotCount];
        }
        else
        {
            slot = _slotsUsed;
            if (slot == _slots.Length)
            {
                Array.Resize(ref _slots, _slots.Length * 2);
            }
        }

        _slots[slot] = state;
        _slotsUsed++;
        return slot;
    }

    private void FreeBlock(SocketState state)
    {
        PollBlock* block = state.Block;
        if (block is null)
        {
            return;
        }

        int slot = block->Slot;
        _slots[slot] = null;
        _slotsUsed--;
        if (_freeSlotCount == _freeSlots.Length)
        {
            Array.Resize(ref _freeSlots, _freeSlots.Length * 2);
        }

        _freeSlots[_freeSlotCount++] = slot;
        state.Block = null;
        NativeMemory.Free(block);
    }

    /// <summary>
    /// The native memory of one socket's poll: what the kernel writes when the request completes.
    /// <see cref="IoStatus"/> comes first, so the block's address is also the IO_STATUS_BLOCK's.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PollBlock
    {
        public IoStatusBlock IoStatus;
        public AfdPollInfo Info;

        /// <summary>Where the poller keeps the socket's managed state (<see cref="_slots"/>).</summary>
        public int Slot;
    }

    /// <summary>One <c>\Device\Afd</c> handle and how many registered sockets poll through it.</summary>
    private sealed class AfdHandle(WindowsKernelHandle handle, nint raw)
    {
        internal readonly WindowsKernelHandle Handle = handle;

        // The handle's value, for the calls on the hot path; valid while Handle is open (until Dispose).
        internal readonly nint Raw = raw;
        internal int Count;
    }

    /// <summary>A registered socket (or a removed one whose cancelled poll is still out).</summary>
    private sealed class SocketState(nint baseHandle, AfdHandle afdHandle)
    {
        internal readonly nint BaseHandle = baseHandle;
        internal readonly AfdHandle AfdHandle = afdHandle;
        internal PollBlock* Block;
        internal IOEvents Interest;
        internal ulong Token;
        internal PollStatus Status;

        // The AFD events the pending poll watches (0 unless Pending).
        internal uint PendingMask;
        internal bool IsQueued;

        // Removed by the loop: free the block once no request is outstanding.
        internal bool IsRemoved;

        // The socket was closed under its registration (AFD_POLL_LOCAL_CLOSE or STATUS_INVALID_HANDLE).
        internal bool IsClosed;
    }
}
