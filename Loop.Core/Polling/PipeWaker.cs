using System.IO.Pipes;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using Loop.Interop;

namespace Loop.Polling;

/// <summary>
/// A self-pipe for systems without eventfd. The pipe comes from .NET (close-on-exec, owned by
/// SafeHandles). Its ends stay blocking: at most one byte is ever outstanding (see
/// <see cref="_pending"/>), so a write cannot block, and the read end is only read after the
/// poller reported it readable.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed unsafe class PipeWaker : IWaker
{
    private readonly AnonymousPipeServerStream _writeEnd;
    private readonly SafePipeHandle _readHandle;
    private readonly int _readFd;
    private readonly int _writeFd;
    private int _pending;

    internal PipeWaker()
    {
        _writeEnd = new AnonymousPipeServerStream(PipeDirection.Out, System.IO.HandleInheritability.None);
        _readHandle = _writeEnd.ClientSafePipeHandle;
        _readFd = (int)_readHandle.DangerousGetHandle();
        _writeFd = (int)_writeEnd.SafePipeHandle.DangerousGetHandle();
    }

    public int ReadFileDescriptor => _readFd;

    public int WriteFileDescriptor => _writeFd;

    public void Wake()
    {
        if (Volatile.Read(ref _pending) != 0 || Interlocked.Exchange(ref _pending, 1) != 0)
        {
            return;
        }

        byte b = 1;
        _ = Libc.write(_writeFd, &b, 1);
    }

    public void Drain()
    {
        // Read first, then clear the flag (see EventFdWaker.Drain: the other order can swallow
        // a wake and leave the flag set, so later wakes write nothing).
        byte* buffer = stackalloc byte[64];
        _ = Libc.read(_readFd, buffer, 64);
        Volatile.Write(ref _pending, 0);
    }

    public void Dispose()
    {
        _readHandle.Dispose();
        _writeEnd.Dispose();
    }
}
