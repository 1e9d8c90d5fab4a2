using System.Diagnostics;

namespace Loop.Fetch;

/// <summary>
/// Draws <see cref="ProgressBar"/> on stderr with <c>\r</c>: first after a second (a quick
/// fetch shows nothing), then five times a second at most, and erases it at the end or before
/// a message. Made only when stderr is a terminal and <c>--json</c> is off. Loop thread only:
/// a loop timeout redraws it, and the line is short enough that writing it never waits long.
/// </summary>
internal sealed class ProgressDisplay
{
    private static readonly TimeSpan s_firstDraw = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_redraw = TimeSpan.FromMilliseconds(200);

    private readonly IOLoop _loop;
    private readonly IReadOnlyList<Transfer> _transfers;
    private readonly TextWriter _error;
    private long _started;
    private TimeoutHandle _timer;
    private bool _timerSet;
    private int _drawn;

    public ProgressDisplay(IOLoop loop, IReadOnlyList<Transfer> transfers, TextWriter error)
    {
        _loop = loop;
        _transfers = transfers;
        _error = error;
    }

    public void Start()
    {
        _started = Stopwatch.GetTimestamp();
        Schedule(s_firstDraw);
    }

    /// <summary>Writes <paramref name="message"/> as a line of its own (the bar is drawn again at the next tick).</summary>
    public void WriteLine(string message)
    {
        Clear();
        _error.WriteLine(message);
    }

    /// <summary>Stops redrawing and erases the bar.</summary>
    public void Finish()
    {
        if (_timerSet)
        {
            _loop.RemoveTimeout(_timer);
            _timerSet = false;
        }

        Clear();
    }

    private void Schedule(TimeSpan delay)
    {
        _timer = _loop.CallLater(delay, Tick);
        _timerSet = true;
    }

    private void Tick()
    {
        _timerSet = false;
        long received = 0;
        long? total = 0;
        int finished = 0;
        foreach (Transfer transfer in _transfers)
        {
            received += transfer.Received;
            total = transfer.ExpectedLength is { } length ? total + length : null;
            finished += transfer.IsFinished ? 1 : 0;
        }

        string line = ProgressBar.Render(received, total, Stopwatch.GetElapsedTime(_started), finished, _transfers.Count);
        _error.Write('\r' + line.PadRight(_drawn));
        _error.Flush();
        _drawn = line.Length;
        Schedule(s_redraw);
    }

    private void Clear()
    {
        if (_drawn > 0)
        {
            _error.Write('\r' + new string(' ', _drawn) + '\r');
            _error.Flush();
            _drawn = 0;
        }
    }
}
