namespace Loop;

public sealed partial class IOLoop
{
    /// <summary>
    /// What is left of one tick's <see cref="TickBudget"/>. Each phase asks it before taking
    /// the next item, passing how many it has run so far: the first item of a phase is always
    /// allowed, so every phase makes progress every tick.
    /// </summary>
    private struct Allowance
    {
        private readonly long _deadline;
        private int _callbacks;
        private int _handlers;

        private Allowance(long deadline, int callbacks, int handlers)
        {
            _deadline = deadline;
            _callbacks = callbacks;
            _handlers = handlers;
            Bounded = true;
        }

        /// <summary>False for the unlimited budget: every check then passes without reading the clock.</summary>
        internal readonly bool Bounded { get; }

        internal static Allowance For(in TickBudget budget, long start)
        {
            if (budget.IsUnlimited)
            {
                return default;
            }

            long deadline = budget.TimeSlice is { } slice ? start + MonotonicClock.FromTimeSpan(slice) : long.MaxValue;
            return new Allowance(
                deadline,
                budget.MaxCallbacks > 0 ? budget.MaxCallbacks : int.MaxValue,
                budget.MaxHandlers > 0 ? budget.MaxHandlers : int.MaxValue);
        }

        /// <summary>Whether one more callback or timer may run, after <paramref name="ranInPhase"/> in this phase.</summary>
        internal readonly bool AllowsCallback(int ranInPhase) =>
            !Bounded || ranInPhase == 0 || (_callbacks > 0 && InTime());

        /// <summary>Whether one more ready handler may be called, after <paramref name="ranInPhase"/> in this phase.</summary>
        internal readonly bool AllowsHandler(int ranInPhase) =>
            !Bounded || ranInPhase == 0 || (_handlers > 0 && InTime());

        internal void TookCallback() => _callbacks--;

        internal void TookHandler() => _handlers--;

        private readonly bool InTime() => _deadline == long.MaxValue || MonotonicClock.Now < _deadline;
    }
}
