using System.Net.Sockets;

namespace Loop;

/// <summary>
/// Linux errno values as <see cref="SocketError"/>, the way .NET's own socket calls report them
/// (its SocketErrorPal), for the stream's direct recv(2) and send(2): a failure reads the same
/// whichever way the bytes went. The numbers are Linux's on every architecture .NET runs on.
/// </summary>
internal static class LinuxSocketErrors
{
    public static SocketError FromErrno(int errno) => errno switch
    {
        1 or 13 => SocketError.AccessDenied,            // EPERM, EACCES
        2 => SocketError.AddressNotAvailable,           // ENOENT
        4 => SocketError.Interrupted,                   // EINTR
        6 => SocketError.HostNotFound,                  // ENXIO
        9 or 125 => SocketError.OperationAborted,       // EBADF, ECANCELED
        11 => SocketError.WouldBlock,                   // EAGAIN, EWOULDBLOCK
        14 => SocketError.Fault,                        // EFAULT
        22 => SocketError.InvalidArgument,              // EINVAL
        23 or 24 => SocketError.TooManyOpenSockets,     // ENFILE, EMFILE
        32 => SocketError.Shutdown,                     // EPIPE
        61 => SocketError.NoData,                       // ENODATA
        88 => SocketError.NotSocket,                    // ENOTSOCK
        89 => SocketError.DestinationAddressRequired,   // EDESTADDRREQ
        90 => SocketError.MessageSize,                  // EMSGSIZE
        91 => SocketError.ProtocolType,                 // EPROTOTYPE
        92 => SocketError.ProtocolOption,               // ENOPROTOOPT
        93 => SocketError.ProtocolNotSupported,         // EPROTONOSUPPORT
        94 => SocketError.SocketNotSupported,           // ESOCKTNOSUPPORT
        95 => SocketError.OperationNotSupported,        // EOPNOTSUPP
        96 => SocketError.ProtocolFamilyNotSupported,   // EPFNOSUPPORT
        97 => SocketError.AddressFamilyNotSupported,    // EAFNOSUPPORT
        98 => SocketError.AddressAlreadyInUse,          // EADDRINUSE
        99 => SocketError.AddressNotAvailable,          // EADDRNOTAVAIL
        100 => SocketError.NetworkDown,                 // ENETDOWN
        101 => SocketError.NetworkUnreachable,          // ENETUNREACH
        102 => SocketError.NetworkReset,                // ENETRESET
        103 => SocketError.ConnectionAborted,           // ECONNABORTED
        104 => SocketError.ConnectionReset,             // ECONNRESET
        105 => SocketError.NoBufferSpaceAvailable,      // ENOBUFS
        106 => SocketError.IsConnected,                 // EISCONN
        107 => SocketError.NotConnected,                // ENOTCONN
        108 => SocketError.Disconnecting,               // ESHUTDOWN
        110 => SocketError.TimedOut,                    // ETIMEDOUT
        111 => SocketError.ConnectionRefused,           // ECONNREFUSED
        112 => SocketError.HostDown,                    // EHOSTDOWN
        113 => SocketError.HostUnreachable,             // EHOSTUNREACH
        114 => SocketError.AlreadyInProgress,           // EALREADY
        115 => SocketError.InProgress,                  // EINPROGRESS
        _ => SocketError.SocketError,
    };
}
