using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace Loop.Interop;

/// <summary>
/// Owns a kernel handle the loop opened itself on Windows (its I/O completion port, a
/// <c>\Device\Afd</c> handle) and closes it once with <c>CloseHandle</c>, even if the owner is
/// never disposed. NULL and INVALID_HANDLE_VALUE (-1) are both invalid, as for the Win32 calls
/// that return these handles.
/// </summary>
[SupportedOSPlatform("windows")]
internal sealed class WindowsKernelHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public WindowsKernelHandle()
        : base(ownsHandle: true)
    {
    }

    internal WindowsKernelHandle(nint handle)
        : base(ownsHandle: true)
    {
        SetHandle(handle);
    }

    protected override bool ReleaseHandle() => WindowsKernel32.CloseHandle(handle) != 0;
}
