using Microsoft.Extensions.Logging;

namespace Loop;

/// <summary>Log events of the stream layer (ids 100-199).</summary>
internal static partial class StreamLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Unsatisfiable read, closing connection: {Reason}")]
    public static partial void UnsatisfiableRead(ILogger logger, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Reached maximum read buffer size ({MaxBufferSize} bytes) with a read pending; closing connection")]
    public static partial void ReadBufferFull(ILogger logger, int maxBufferSize);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Error on {Operation} of stream fd {Fd}: {Error}")]
    public static partial void SocketError(ILogger logger, string operation, int fd, string error);

}
