using Microsoft.Extensions.Logging;

namespace Loop;

/// <summary>The loop's log messages, with stable event ids. Nothing is formatted when the level is off.</summary>
internal static partial class CoreLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Exception in callback")]
    internal static partial void CallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Exception in I/O handler for fd {Fd}")]
    internal static partial void HandlerFailed(ILogger logger, int fd, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Exception in callback: the task it returned faulted")]
    internal static partial void CallbackTaskFaulted(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Exception in periodic callback")]
    internal static partial void PeriodicCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Failed to close fd {Fd} while closing the loop")]
    internal static partial void CloseFailed(ILogger logger, int fd, Exception exception);
}
