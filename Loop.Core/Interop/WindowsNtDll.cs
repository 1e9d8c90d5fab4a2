using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>
/// The ntdll calls and the AFD (Ancillary Function Driver, the kernel side of Winsock) poll
/// request of the Windows backend (its event bits are in <see cref="Polling.AfdEvents"/>). AFD's poll is not in the public SDK: the structures and the
/// IOCTL code below are the ones wepoll (piscisaureus/wepoll, src/afd.h and src/afd.c), mio
/// (tokio-rs/mio, src/sys/windows/afd.rs) and libuv (src/win/winapi.h, <c>AFD_POLL_INFO</c>)
/// declare alike; the NT structures and functions are those of the WDK (wdm.h, ntifs.h,
/// ntdef.h), as wepoll's src/nt.h repeats them. NTSTATUS is returned as <see cref="int"/>;
/// negative values are errors (ntdef.h <c>NT_SUCCESS</c>).
/// </summary>
[SupportedOSPlatform("windows")]
internal static unsafe partial class WindowsNtDll
{
    private const string LibraryName = "ntdll.dll";

    // ntstatus.h values.
    internal const int StatusSuccess = 0;
    internal const int StatusPending = 0x103;
    internal const int StatusCancelled = unchecked((int)0xC0000120);
    internal const int StatusNotFound = unchecked((int)0xC0000225);
    internal const int StatusInvalidHandle = unchecked((int)0xC0000008);

    /// <summary>
    /// <c>IOCTL_AFD_POLL</c>: FSCTL code 0x00012024 (device FILE_DEVICE_NETWORK 0x12, function
    /// AFD_POLL 9, METHOD_BUFFERED, FILE_ANY_ACCESS), as in wepoll's afd.c and mio's afd.rs.
    /// </summary>
    internal const uint IoctlAfdPoll = 0x00012024;

    // winnt.h / wdm.h access, share and disposition values for NtCreateFile.
    internal const uint Synchronize = 0x00100000;
    internal const uint FileShareRead = 0x1;
    internal const uint FileShareWrite = 0x2;
    internal const uint FileOpen = 0x1;

    /// <summary>
    /// wdm.h <c>IO_STATUS_BLOCK</c>: <c>union { NTSTATUS Status; PVOID Pointer; }; ULONG_PTR
    /// Information;</c> (16 bytes on 64-bit, 8 on 32-bit). The kernel writes it when a request
    /// completes; until then the poller reads <see cref="Status"/> as STATUS_PENDING.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoStatusBlock
    {
        public IoStatusUnion Value;
        public nuint Information;

        public int Status
        {
            readonly get => Value.Status;
            set => Value.Status = value;
        }
    }

    /// <summary>The anonymous union at the head of <c>IO_STATUS_BLOCK</c>: pointer-sized, Status in its first four bytes.</summary>
    [StructLayout(LayoutKind.Explicit)]
    internal struct IoStatusUnion
    {
        [FieldOffset(0)]
        public int Status;

        [FieldOffset(0)]
        public nint Pointer;
    }

    /// <summary>
    /// <c>AFD_POLL_HANDLE_INFO</c>: <c>HANDLE Handle; ULONG Events; NTSTATUS Status;</c>
    /// (16 bytes on 64-bit, 12 on 32-bit), as wepoll's afd.h declares it.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct AfdPollHandleInfo
    {
        public nint Handle;
        public uint Events;
        public int Status;
    }

    /// <summary>
    /// <c>AFD_POLL_INFO</c> with one handle: <c>LARGE_INTEGER Timeout; ULONG NumberOfHandles;
    /// ULONG Exclusive; AFD_POLL_HANDLE_INFO Handles[1];</c> (32 bytes on 64-bit, 28 on
    /// 32-bit), as wepoll's afd.h declares it. The same buffer is the request's input and output:
    /// on completion AFD rewrites <see cref="NumberOfHandles"/> and the handle's events.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct AfdPollInfo
    {
        public long Timeout;
        public uint NumberOfHandles;
        public uint Exclusive;
        public AfdPollHandleInfo Handle0;
    }

    /// <summary>ntdef.h <c>UNICODE_STRING</c>: <c>USHORT Length; USHORT MaximumLength; PWSTR Buffer;</c> (lengths in bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UnicodeString
    {
        public ushort Length;
        public ushort MaximumLength;
        public char* Buffer;
    }

    /// <summary>
    /// ntdef.h <c>OBJECT_ATTRIBUTES</c>: <c>ULONG Length; HANDLE RootDirectory; PUNICODE_STRING
    /// ObjectName; ULONG Attributes; PVOID SecurityDescriptor; PVOID SecurityQualityOfService;</c>.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ObjectAttributes
    {
        public uint Length;
        public nint RootDirectory;
        public UnicodeString* ObjectName;
        public uint Attributes;
        public void* SecurityDescriptor;
        public void* SecurityQualityOfService;
    }

    /// <summary>
    /// ntifs.h: <c>NTSTATUS NtCreateFile(PHANDLE FileHandle, ACCESS_MASK DesiredAccess,
    /// POBJECT_ATTRIBUTES ObjectAttributes, PIO_STATUS_BLOCK IoStatusBlock, PLARGE_INTEGER
    /// AllocationSize, ULONG FileAttributes, ULONG ShareAccess, ULONG CreateDisposition, ULONG
    /// CreateOptions, PVOID EaBuffer, ULONG EaLength)</c>.
    /// </summary>
    [LibraryImport(LibraryName)]
    internal static partial int NtCreateFile(
        nint* fileHandle,
        uint desiredAccess,
        ObjectAttributes* objectAttributes,
        IoStatusBlock* ioStatusBlock,
        long* allocationSize,
        uint fileAttributes,
        uint shareAccess,
        uint createDisposition,
        uint createOptions,
        void* eaBuffer,
        uint eaLength);

    /// <summary>
    /// ntifs.h: <c>NTSTATUS NtDeviceIoControlFile(HANDLE FileHandle, HANDLE Event,
    /// PIO_APC_ROUTINE ApcRoutine, PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock, ULONG
    /// IoControlCode, PVOID InputBuffer, ULONG InputBufferLength, PVOID OutputBuffer, ULONG
    /// OutputBufferLength)</c>. On a handle associated with a completion port, ApcContext comes
    /// back as the packet's lpOverlapped.
    /// </summary>
    [LibraryImport(LibraryName)]
    internal static partial int NtDeviceIoControlFile(
        nint fileHandle,
        nint eventHandle,
        void* apcRoutine,
        void* apcContext,
        IoStatusBlock* ioStatusBlock,
        uint ioControlCode,
        void* inputBuffer,
        uint inputBufferLength,
        void* outputBuffer,
        uint outputBufferLength);

    /// <summary>
    /// ntifs.h: <c>NTSTATUS NtCancelIoFileEx(HANDLE FileHandle, PIO_STATUS_BLOCK
    /// IoRequestToCancel, PIO_STATUS_BLOCK IoStatusBlock)</c>. The cancelled request still
    /// completes (with STATUS_CANCELLED) through the port; STATUS_NOT_FOUND means it had
    /// completed already.
    /// </summary>
    [LibraryImport(LibraryName)]
    internal static partial int NtCancelIoFileEx(nint fileHandle, IoStatusBlock* ioRequestToCancel, IoStatusBlock* ioStatusBlock);

    /// <summary>winternl.h: <c>ULONG RtlNtStatusToDosError(NTSTATUS Status)</c>, for error messages.</summary>
    [LibraryImport(LibraryName)]
    internal static partial uint RtlNtStatusToDosError(int status);
}
