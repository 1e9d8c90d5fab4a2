using System.Net.Sockets;
using Loop.Tests.Support;

namespace Loop.Tests.Core;

public sealed class IOLoopHandlerTests(PollerBackend backend) : LoopFixture(backend)
{
    [Test]
    public void AddHandler_SameDescriptorTwice_Throws()
    {
        using SocketPair pair = SocketPair.Create();
        Loop.AddHandler(pair.Left, (_, _) => { }, IOEvents.Read);
        var error = Assert.Throws<InvalidOperationException>(() => Loop.AddHandler(pair.Left, (_, _) => { }, IOEvents.Read));
        Assert.That(error!.Message, Does.Contain("added twice"));
        Loop.RemoveHandler(pair.Left);
    }

    [Test]
    public void RemoveHandler_NeverAdded_DoesNothing()
    {
        using SocketPair pair = SocketPair.Create();
        Assert.DoesNotThrow(() => Loop.RemoveHandler(pair.Left));
        Assert.DoesNotThrow(() => Loop.RemoveHandler((int)pair.Right.Handle));
        Assert.DoesNotThrow(() => Loop.RemoveHandler(123456));
    }

    [Test]
    public void AddHandler_DescriptorNotOpen_EpollAndIocpRefuseAndPollReportsError()
    {
        const int fd = 60_000;
        Assert.That(Fds.IsOpen(fd), Is.False, "precondition: descriptor 60000 is not open");
        if (Backend is PollerBackend.Epoll or PollerBackend.Iocp)
        {
            var error = Assert.Throws<System.ComponentModel.Win32Exception>(() => Loop.AddHandler(fd, (_, _) => { }, IOEvents.Read));
            // IOCP: Windows refuses a non-socket in SIO_BASE_HANDLE; Wine answers that with the
            // handle itself, and the first AFD poll (submitted at registration) refuses it.
            Assert.That(error!.Message, Backend == PollerBackend.Epoll ? Does.Contain("epoll_ctl(ADD)") : Does.Contain("SIO_BASE_HANDLE").Or.Contain("IOCTL_AFD_POLL"));
            Assert.That(Loop.HandlerCount, Is.Zero);
            return;
        }

        // poll(2) cannot check at registration; the first wait reports POLLNVAL as an error.
        IOEvents seen = IOEvents.None;
        Loop.AddHandler(fd, (f, events) =>
        {
            seen = events;
            Loop.RemoveHandler(f);
        }, IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromSeconds(5));
        Assert.That(seen, Is.EqualTo(IOEvents.Error));
    }

    [Test]
    public void Handler_ForReadOnWritableSocket_GetsExactlyRead()
    {
        using SocketPair pair = SocketPair.Create();
        var seen = new List<IOEvents>();
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Loop.AddHandler(pair.Left, (fd, events) =>
            {
                seen.Add(events);
                Loop.RemoveHandler(fd);
                done.SetResult();
            }, IOEvents.Read);
            pair.Right.Send("x"u8);
            await done.Task;
        });
        Assert.That(seen, Is.EqualTo(new[] { IOEvents.Read }));
    }

    [Test]
    public void Handler_ForWrite_GetsWrite()
    {
        using SocketPair pair = SocketPair.Create();
        IOEvents seen = IOEvents.None;
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Loop.AddHandler(pair.Left, (fd, events) =>
            {
                seen = events;
                Loop.RemoveHandler(fd);
                done.SetResult();
            }, IOEvents.Write);
            await done.Task;
        });
        Assert.That(seen, Is.EqualTo(IOEvents.Write));
    }

    [Test]
    public void UpdateHandler_SwitchesInterestFromReadToWrite()
    {
        using SocketPair pair = SocketPair.Create();
        var seen = new List<IOEvents>();
        Run(async () =>
        {
            var done = new TaskCompletionSource();
            Loop.AddHandler(pair.Left, (fd, events) =>
            {
                seen.Add(events);
                if (seen.Count == 1)
                {
                    Loop.UpdateHandler(fd, IOEvents.Write);
                }
                else
                {
                    Loop.RemoveHandler(fd);
                    done.SetResult();
                }
            }, IOEvents.Read);
            pair.Right.Send("x"u8);
            await done.Task;
        });
        Assert.That(seen, Is.EqualTo(new[] { IOEvents.Read, IOEvents.Write }));
    }

    [Test]
    public void UpdateHandler_NotRegistered_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => Loop.UpdateHandler(98765, IOEvents.Read));
    }

    [Test]
    public void Handler_RemovedByEarlierHandlerInSameIteration_IsNotCalled()
    {
        using SocketPair first = SocketPair.Create();
        using SocketPair second = SocketPair.Create();
        var chunks = new List<string>();
        first.Right.Send("abc"u8);
        second.Right.Send("abc"u8);

        // Both descriptors are readable before the loop polls, so both events arrive in one
        // batch; whichever handler runs first removes the other.
        int[] fds = [(int)first.Left.Handle, (int)second.Left.Handle];
        Socket[] sockets = [first.Left, second.Left];
        IOHandler handler = (fd, _) =>
        {
            Socket socket = fd == fds[0] ? sockets[0] : sockets[1];
            Span<byte> buffer = stackalloc byte[16];
            int n = socket.Receive(buffer);
            chunks.Add(System.Text.Encoding.ASCII.GetString(buffer[..n]));
            Loop.RemoveHandler(fds[0]);
            Loop.RemoveHandler(fds[1]);
        };
        Loop.AddHandler(first.Left, handler, IOEvents.Read);
        Loop.AddHandler(second.Left, handler, IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromSeconds(5));
        Assert.That(chunks, Is.EqualTo(new[] { "abc" }));
    }

    [Test]
    public void Handler_DescriptorReusedWithinBatch_StaleEventNotDeliveredToNewHandler()
    {
        SocketPair a = SocketPair.Create();
        SocketPair b = SocketPair.Create();
        SocketPair? replacement = null;
        int replacementCalls = 0;
        var handledFirst = new List<int>();
        a.Right.Send("x"u8);
        b.Right.Send("x"u8);
        int aFd = (int)a.Left.Handle;
        int bFd = (int)b.Left.Handle;

        // The first handler to run closes the other pair and opens a new one, which the kernel
        // gives the lowest free numbers: the ones just closed. The stale event fetched for the
        // old descriptor must not reach the new registration.
        IOHandler handler = (fd, _) =>
        {
            handledFirst.Add(fd);
            if (replacement is not null)
            {
                return;
            }

            SocketPair other = fd == aFd ? b : a;
            int otherFd = fd == aFd ? bFd : aFd;
            Loop.RemoveHandler(otherFd);
            other.Dispose();
            replacement = SocketPair.Create();
            if ((int)replacement.Left.Handle == otherFd || (int)replacement.Right.Handle == otherFd)
            {
                Socket reused = (int)replacement.Left.Handle == otherFd ? replacement.Left : replacement.Right;
                Loop.AddHandler(reused, (_, _) => replacementCalls++, IOEvents.Read);
            }
        };
        Loop.AddHandler(a.Left, handler, IOEvents.Read);
        Loop.AddHandler(b.Left, handler, IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromSeconds(5));

        Assert.That(handledFirst, Has.Count.EqualTo(1));
        Assert.That(replacementCalls, Is.Zero);
        foreach (int fd in new[] { aFd, bFd })
        {
            Loop.RemoveHandler(fd);
        }

        a.Dispose();
        b.Dispose();
        replacement?.Dispose();
    }

    [Test]
    public void Handler_Throws_IsLoggedAndLoopGoesOn()
    {
        using SocketPair pair = SocketPair.Create();
        bool after = false;
        pair.Right.Send("x"u8);
        Loop.AddHandler(pair.Left, (_, _) => throw new InvalidOperationException("handler boom"), IOEvents.Read);
        Loop.RunOnce(TimeSpan.FromSeconds(5));
        Loop.RemoveHandler(pair.Left);
        Loop.AddCallback(() => after = true);
        Loop.RunOnce(TimeSpan.Zero);
        Assert.That(after, Is.True);
        var logged = Log.Expect(eventId: 2);
        Assert.That(logged[0].Exception!.Message, Is.EqualTo("handler boom"));
    }

    [Test]
    public void Handlers_MoreReadyThanEventBuffer_AllAreServed()
    {
        // Debug builds use a 32-event buffer; 80 ready descriptors need several waits.
        var pairs = Enumerable.Range(0, 80).Select(_ => SocketPair.Create()).ToList();
        var served = new HashSet<int>();
        try
        {
            foreach (SocketPair pair in pairs)
            {
                pair.Right.Send("x"u8);
                Loop.AddHandler(pair.Left, (fd, _) =>
                {
                    served.Add(fd);
                    Loop.RemoveHandler(fd);
                }, IOEvents.Read);
            }

            Fds.RunBounded(() =>
            {
                while (served.Count < pairs.Count)
                {
                    Loop.RunOnce(TimeSpan.FromSeconds(1));
                }
            }, TestTimeout);
            Assert.That(served, Has.Count.EqualTo(pairs.Count));
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
        }
    }

    [Test]
    [Platform(Exclude = "Win", Reason = "An eventfd stands in for a descriptor owned by a SafeHandle; the IOCP backend polls sockets only")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AddHandler_SafeHandle_DescriptorStaysOpenUntilHandlerRemoved()
    {
        int fd = global::Loop.Interop.Libc.eventfd(0, global::Loop.Interop.Libc.EFD_CLOEXEC | global::Loop.Interop.Libc.EFD_NONBLOCK);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        Loop.AddHandler(handle, (_, _) => { }, IOEvents.Read);

        // Disposing the handle while it is registered must not close the number under the loop.
        handle.Dispose();
        Assert.That(Fds.IsOpen(fd), Is.True, "descriptor closed while still registered");
        Loop.RemoveHandler(handle);
        Assert.That(Fds.IsOpen(fd), Is.False, "descriptor not closed once the loop released it");
        Assert.That(Loop.HandlerCount, Is.Zero);
    }

    [Test]
    public void Close_AllFds_DisposesRegisteredSocketsAndClosesRawDescriptors()
    {
        SkipLeakCheck = true;
        SocketPair pair = SocketPair.Create();
        SocketPair raw = SocketPair.Create();
        int rawFd = (int)raw.Left.Handle;
        Loop.AddHandler(pair.Left, (_, _) => { }, IOEvents.Read);
        Loop.AddHandler(rawFd, (_, _) => { }, IOEvents.Read);
        Loop.Close(allFds: true);

        Assert.Catch<ObjectDisposedException>(() => _ = pair.Left.Available);
        Assert.That(Fds.IsOpen(rawFd), Is.False, "raw descriptor left open");

        // The raw descriptor was closed under the Socket's feet; stop it closing the number again.
        GC.SuppressFinalize(raw.Left);
        raw.Left.SafeHandle.SetHandleAsInvalid();
        raw.Right.Dispose();
        pair.Right.Dispose();
    }

    [Test]
    public void Close_WithoutAllFds_LeavesRegisteredDescriptorsOpen()
    {
        SkipLeakCheck = true;
        using SocketPair pair = SocketPair.Create();
        Loop.AddHandler(pair.Left, (_, _) => { }, IOEvents.Read);
        Loop.Close();
        Assert.That(Fds.IsOpen((int)pair.Left.Handle), Is.True);
        Assert.That(pair.Left.Available, Is.Zero);
    }

    [Test]
    public void RemoveHandler_SocketDisposedWhileRegistered_IsStillRemoved()
    {
        SocketPair pair = SocketPair.Create();
        Loop.AddHandler(pair.Left, (_, _) => { }, IOEvents.Read);
        pair.Dispose();
        Loop.RemoveHandler(pair.Left);
        Assert.That(Loop.HandlerCount, Is.Zero);
    }
}
