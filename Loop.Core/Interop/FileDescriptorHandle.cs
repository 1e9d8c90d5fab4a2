using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>
/// Owns a file descriptor the loop created itself (an epoll or kqueue instance, an eventfd)
/// and closes it exactly once, even if the owner is never disposed.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class FileDescriptorHandle : SafeHandle
{
    internal FileDescriptorHandle(int fd)
        : base(new IntPtr(-1), ownsHandle: true)
    {
        SetHandle(new IntPtr(fd));
    }

    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The descriptor number. Valid only while the handle is open.</summary>
    internal int Fd => (int)handle.ToInt64();

    /// <summary>Wraps a descriptor just returned by a libc call, or throws with errno's text.</summary>
    internal static FileDescriptorHandle FromResult(int fd, string call)
    {
        if (fd < 0)
        {
            throw NativeErrors.For(call, Libc.LastErrno);
        }

        return new FileDescriptorHandle(fd);
    }

    protected override bool ReleaseHandle() => Libc.close((int)handle.ToInt64()) == 0;
}
