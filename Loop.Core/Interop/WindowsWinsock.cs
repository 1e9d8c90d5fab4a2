using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Loop.Interop;

/// <summary>
/// The ws2_32 calls of the Windows backend. Winsock is already started in any process that
/// made a <see cref="System.Net.Sockets.Socket"/>, which is where the loop's sockets come from.
/// Signatures and constants are the Windows SDK's (winsock2.h, mswsock.h, ws2def.h).
/// </summary>
[SupportedOSPlatform("windows")]
internal static unsafe partial class WindowsWinsock
{
    private const string LibraryName = "ws2_32.dll";

    /// <summary>winsock2.h: <c>SOCKET_ERROR</c>.</summary>
    internal const int SocketError = -1;

    /// <summary>
    /// mswsock.h: <c>SIO_BASE_HANDLE</c> = <c>_WSAIOR(IOC_WS2, 34)</c> = 0x48000022, the handle of
    /// the base service provider under any layered ones: the one AFD knows.
    /// </summary>
    internal const uint SioBaseHandle = 0x48000022;

    /// <summary>
    /// mswsock.h: <c>SIO_BSP_HANDLE_POLL</c> = <c>_WSAIOR(IOC_WS2, 29)</c> = 0x4800001D; the
    /// fallback for layered providers that fail SIO_BASE_HANDLE (mio issue #1314, trio's
    /// <c>_get_base_socket</c>).
    /// </summary>
    internal const uint SioBspHandlePoll = 0x4800001D;

    /// <summary>
    /// winsock2.h: <c>int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD
    /// cbInBuffer, LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
    /// LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)</c>.
    /// SOCKET_ERROR on failure, with the code in WSAGetLastError (the thread's last error).
    /// </summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int WSAIoctl(
        nint socket,
        uint ioControlCode,
        void* inBuffer,
        uint inBufferLength,
        void* outBuffer,
        uint outBufferLength,
        uint* bytesReturned,
        void* overlapped,
        void* completionRoutine);

    /// <summary>winsock2.h: <c>int closesocket(SOCKET s)</c>, for <c>IOLoop.Close(allFds: true)</c> on a bare socket handle.</summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int closesocket(nint socket);
}
