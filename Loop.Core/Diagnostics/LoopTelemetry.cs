using System.Diagnostics.Metrics;

namespace Loop;

/// <summary>
/// The loop's meter, <c>Loop.IOLoop</c> (<see cref="IOLoop.MeterName"/>): <c>loop.callbacks</c>
/// (callbacks run), <c>loop.handler.dispatches</c> (I/O handlers called), <c>loop.timers.fired</c>
/// (timers run) and <c>loop.iteration.duration</c> (s: the time one iteration spent running
/// callbacks, timers and handlers, its wait in the poller left out). Reported once per
/// iteration, and only while someone listens: otherwise an iteration pays one check.
/// </summary>
internal static class LoopTelemetry
{
    private static readonly Meter s_meter = new(IOLoop.MeterName, typeof(LoopTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> Callbacks = s_meter.CreateCounter<long>(
        "loop.callbacks", "{callback}", "Callbacks the loop ran (AddCallback, continuations posted to its synchronization context).");

    public static readonly Counter<long> HandlerDispatches = s_meter.CreateCounter<long>(
        "loop.handler.dispatches", "{dispatch}", "I/O handler calls the loop made for ready descriptors.");

    public static readonly Counter<long> TimersFired = s_meter.CreateCounter<long>(
        "loop.timers.fired", "{timer}", "Timers the loop ran (CallLater, CallAt, periodic callbacks).");

    public static readonly Histogram<double> IterationDuration = s_meter.CreateHistogram<double>(
        "loop.iteration.duration", "s", "Time one loop iteration spent running callbacks, timers and handlers (the wait for I/O left out).");

    /// <summary>Whether any instrument has a listener.</summary>
    public static bool Observed => Callbacks.Enabled || HandlerDispatches.Enabled || TimersFired.Enabled || IterationDuration.Enabled;

    /// <summary>Reports one iteration: what ran since the last report and the iteration's busy time.</summary>
    public static void Report(long callbacks, long timers, long dispatches, double busySeconds)
    {
        if (callbacks > 0)
        {
            Callbacks.Add(callbacks);
        }

        if (timers > 0)
        {
            TimersFired.Add(timers);
        }

        if (dispatches > 0)
        {
            HandlerDispatches.Add(dispatches);
        }

        IterationDuration.Record(busySeconds);
    }
}
