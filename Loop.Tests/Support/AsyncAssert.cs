namespace Loop.Tests.Support;

/// <summary>
/// Exception assertions that await instead of blocking. NUnit's async <c>Throws</c> constraints
/// block the calling thread until the task ends, which on a loop thread would wait forever for
/// the loop that is supposed to finish it.
/// </summary>
public static class AsyncAssert
{
    public static async Task<T> ThrowsAsync<T>(Func<Task> action)
        where T : Exception
    {
        try
        {
            await action();
        }
        catch (T expected) when (expected.GetType() == typeof(T))
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
