using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Support;

/// <summary>
/// Captures everything logged through it, so a test can assert that an expected error was
/// logged (Tornado's ExpectLog) and the fixture can fail a test that logged one unexpectedly.
/// </summary>
public sealed class TestLog : ILoggerFactory, ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
    {
        public bool Expected { get; set; }
    }

    public IReadOnlyCollection<Entry> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    /// <summary>Marks every entry with this event id as expected and returns them; fails if there is none.</summary>
    public IReadOnlyList<Entry> Expect(int eventId, int atLeast = 1)
    {
        var matches = _entries.Where(e => e.EventId.Id == eventId).ToList();
        Assert.That(matches, Has.Count.GreaterThanOrEqualTo(atLeast), $"expected log event {eventId} at least {atLeast} time(s)");
        foreach (Entry entry in matches)
        {
            entry.Expected = true;
        }

        return matches;
    }

    /// <summary>Warnings and errors that no test asked for.</summary>
    public IEnumerable<Entry> Unexpected => _entries.Where(e => e.Level >= LogLevel.Warning && !e.Expected);

    private sealed class Logger(TestLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
