namespace Loop.Tests.Handler;

/// <summary>Waiting helpers for the handler tests: every wait has a deadline (no fixed sleeps).</summary>
internal static class HandlerAssert
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Waits until <paramref name="condition"/> holds, checking often, failing at the deadline.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(2); // the polling interval; the deadline above bounds the wait
        }
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test at the deadline.</summary>
    public static Task Within(this Task task) => task.WaitAsync(Deadline);

    /// <inheritdoc cref="Within(Task)"/>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Deadline);

    /// <summary>The exception <paramref name="action"/> throws, which must be a <typeparamref name="T"/> (or derived).</summary>
    public static async Task<T> CatchAsync<T>(Func<Task> action)
        where T : Exception
    {
        try
        {
            await action().WaitAsync(Deadline);
        }
        catch (T expected)
        {
            return expected;
        }
        catch (Exception other)
        {
            Assert.Fail($"Expected {typeof(T).Name} but got {other.GetType().Name}: {other}");
        }

        Assert.Fail($"Expected {typeof(T).Name} but nothing was thrown.");
        return null!;
    }
}
