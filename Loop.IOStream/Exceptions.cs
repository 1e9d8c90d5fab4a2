using System.Net.Sockets;

namespace Loop;

/// <summary>
/// An operation on an <see cref="IOStream"/> failed because the stream is closed, or closed while
/// the operation was pending. <see cref="Exception.InnerException"/> is the real cause when there
/// is one (a <see cref="SocketException"/> such as ECONNRESET, a TLS failure, a buffer limit); it is
/// null when the peer simply closed the connection or the stream was closed on purpose.
/// </summary>
/// <remarks>
/// When a stream closes, a pending read that the buffered data can satisfy completes first; the
/// other pending operations then fail with this exception, and the close callback runs after them
/// (as Tornado's <c>StreamClosedError</c>).
/// </remarks>
public class StreamClosedException : IOException
{
    /// <summary>Creates the exception with the default message and no cause.</summary>
    public StreamClosedException()
        : base("Stream is closed")
    {
    }

    /// <summary>Creates the exception with the given message.</summary>
    public StreamClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the given message and cause.</summary>
    public StreamClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a stream that closed because of <paramref name="cause"/> (null: a plain close).</summary>
    public static StreamClosedException For(Exception? cause) =>
        cause is null ? new StreamClosedException() : new StreamClosedException("Stream is closed: " + cause.Message, cause);
}

/// <summary>
/// A delimiter or pattern read could not be satisfied within its <c>maxBytes</c>. The stream is
/// closed when this is raised, as Tornado does: the rest of the data cannot be framed any more.
/// </summary>
public sealed class UnsatisfiableReadException : IOException
{
    /// <summary>Creates the exception with the given message.</summary>
    public UnsatisfiableReadException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A buffer limit of an <see cref="IOStream"/> was reached: a pending read needs more than
/// <see cref="IOStreamOptions.MaxBufferSize"/> bytes (the stream is closed), or a write would
/// take the write buffer past <see cref="IOStreamOptions.MaxWriteBufferSize"/> (the write is
/// refused and the stream stays open).
/// </summary>
public sealed class StreamBufferFullException : IOException
{
    /// <summary>Creates the exception with the given message.</summary>
    public StreamBufferFullException(string message)
        : base(message)
    {
    }
}

/// <summary>Why a TLS handshake failed.</summary>
public enum TlsFailureReason
{
    /// <summary>The handshake failed for another reason (protocol error, no shared cipher, the peer closed); see the inner exception.</summary>
    Other = 0,

    /// <summary>The peer's certificate does not chain to a trusted root (self-signed, unknown CA, incomplete chain).</summary>
    UntrustedRoot,

    /// <summary>The certificate does not name the host that was asked for.</summary>
    NameMismatch,

    /// <summary>The certificate, or one in its chain, has expired or is not valid yet.</summary>
    Expired,

    /// <summary>The certificate has been revoked.</summary>
    Revoked,

    /// <summary>The peer sent no certificate.</summary>
    NoCertificate,
}

/// <summary>A TLS handshake failed; <see cref="Reason"/> says why, and the message names it.</summary>
public sealed class TlsHandshakeException : IOException
{
    /// <summary>Creates the exception.</summary>
    public TlsHandshakeException(TlsFailureReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Why the handshake failed.</summary>
    public TlsFailureReason Reason { get; }
}

/// <summary>A host name could not be resolved to an address.</summary>
public sealed class ResolveException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ResolveException(string host, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Host = host;
    }

    /// <summary>The name that failed to resolve.</summary>
    public string Host { get; }
}
