using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>Turns errno, Win32 and NTSTATUS values into exceptions. Throws live here, off the hot paths.</summary>
internal static class NativeErrors
{
    /// <summary>An exception naming the call that failed and errno's text.</summary>
    internal static Win32Exception For(string call, int errno) =>
        new(errno, $"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    internal static void Throw(string call, int errno) => throw For(call, errno);

    /// <summary>An exception naming the Windows call that failed and the text of its Win32 (or WSA) error code.</summary>
    internal static Win32Exception ForWin32(string call, int error) =>
        new(error, $"{call} failed: {Marshal.GetPInvokeErrorMessage(error)} (error {error})");

    /// <summary>An exception naming the NT call that failed, with its NTSTATUS and the Win32 error it maps to.</summary>
    [SupportedOSPlatform("windows")]
    internal static Win32Exception ForNtStatus(string call, int status)
    {
        int error = (int)WindowsNtDll.RtlNtStatusToDosError(status);
        return new(error, $"{call} failed: {Marshal.GetPInvokeErrorMessage(error)} (NTSTATUS 0x{status:X8}, error {error})");
    }
}
