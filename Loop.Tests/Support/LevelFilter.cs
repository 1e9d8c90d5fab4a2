using Microsoft.Extensions.Logging;

namespace Loop.Tests.Support;

/// <summary>Hands a <see cref="TestLog"/> only the entries at or above a level.</summary>
public sealed class LevelFilter(TestLog log, LogLevel minimum) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Filtered(log.CreateLogger(categoryName), minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Filtered(ILogger inner, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
