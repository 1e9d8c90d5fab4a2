using System.Diagnostics;

namespace Loop.Tests.Reliability;

/// <summary>Bounded waits for the reliability tests: they fail, naming what is still pending, instead of hanging.</summary>
internal static class Settle
{
    private const ConfigureAwaitOptions OnLoopWithoutThrowing = ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext;

    /// <summary>Waits until every task has ended (in any state); fails after <paramref name="bound"/> naming those that have not.</summary>
    public static async Task AllAsync(IReadOnlyList<Task> tasks, TimeSpan bound, Func<int, string> describe)
    {
        Task all = Task.WhenAll(tasks);
        await all.WaitAsync(bound).ConfigureAwait(OnLoopWithoutThrowing);
        if (!all.IsCompleted)
        {
            List<int> pending = [.. Enumerable.Range(0, tasks.Count).Where(i => !tasks[i].IsCompleted)];
            Assert.Fail($"{pending.Count} of {tasks.Count} fetches still running after {bound.TotalSeconds:0.#} s: {string.Join("; ", pending.Take(8).Select(describe))}");
        }
    }

    /// <summary>Waits for one task to end (in any state); fails after <paramref name="bound"/>.</summary>
    public static Task OneAsync(Task task, TimeSpan bound, string what) => AllAsync([task], bound, _ => what);

    /// <summary>Turns the loop until <paramref name="condition"/> holds; fails after <paramref name="bound"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan bound, string what)
    {
        long started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(started) > bound)
            {
                Assert.Fail($"{what}: not within {bound.TotalSeconds:0.#} s");
            }

            await Task.Yield();
        }
    }
}
