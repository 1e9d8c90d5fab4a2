using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>
/// The kernel32 calls of the Windows backend: the I/O completion port and its packets.
/// Signatures and constants are those of the Windows SDK headers named on each member
/// (ioapiset.h, minwinbase.h, winbase.h, handleapi.h, winerror.h); BOOL is returned as
/// <see cref="int"/> (nonzero is success) so every import is blittable.
/// </summary>
[SupportedOSPlatform("windows")]
internal static unsafe partial class WindowsKernel32
{
    private const string LibraryName = "kernel32.dll";

    /// <summary>winbase.h: <c>INFINITE</c>, a wait with no time limit.</summary>
    internal const uint Infinite = 0xFFFFFFFF;

    /// <summary>winerror.h: <c>WAIT_TIMEOUT</c> (258), what GetQueuedCompletionStatusEx sets when no packet came in time.</summary>
    internal const int WaitTimeout = 258;

    /// <summary>winbase.h: <c>FILE_SKIP_SET_EVENT_ON_HANDLE</c> (0x2), for SetFileCompletionNotificationModes.</summary>
    internal const byte FileSkipSetEventOnHandle = 0x2;

    /// <summary>
    /// minwinbase.h <c>OVERLAPPED_ENTRY</c>: ULONG_PTR lpCompletionKey; LPOVERLAPPED lpOverlapped;
    /// ULONG_PTR Internal; DWORD dwNumberOfBytesTransferred (32 bytes on 64-bit, 16 on 32-bit).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OverlappedEntry
    {
        public nuint CompletionKey;
        public void* Overlapped;
        public nuint Internal;
        public uint NumberOfBytesTransferred;
    }

    /// <summary>
    /// ioapiset.h: <c>HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort,
    /// ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads)</c>. With INVALID_HANDLE_VALUE and
    /// no port it creates a port; with a file handle and a port it associates them. NULL on failure.
    /// </summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint CreateIoCompletionPort(nint fileHandle, nint existingCompletionPort, nuint completionKey, uint numberOfConcurrentThreads);

    /// <summary>
    /// ioapiset.h: <c>BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY
    /// lpCompletionPortEntries, ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds,
    /// BOOL fAlertable)</c>. FALSE with WAIT_TIMEOUT when nothing came within the wait.
    /// </summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int GetQueuedCompletionStatusEx(nint completionPort, OverlappedEntry* entries, uint count, uint* removed, uint milliseconds, int alertable);

    /// <summary>
    /// ioapiset.h: <c>BOOL PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD
    /// dwNumberOfBytesTransferred, ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped)</c>.
    /// Takes the port as a SafeHandle: it is called from other threads, which must not post to a
    /// closed handle whose number was reused.
    /// </summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int PostQueuedCompletionStatus(SafeHandle completionPort, uint numberOfBytesTransferred, nuint completionKey, void* overlapped);

    /// <summary>winbase.h: <c>BOOL SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags)</c>.</summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int SetFileCompletionNotificationModes(nint fileHandle, byte flags);

    /// <summary>handleapi.h: <c>BOOL CloseHandle(HANDLE hObject)</c>.</summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int CloseHandle(nint handle);
}
