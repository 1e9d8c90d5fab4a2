#if !NET9_0_OR_GREATER
namespace Loop.Http;

/// <summary>
/// The .NET 9 and 10 members this library calls, for its .NET 8 build: each does what the
/// framework's member of the same name does, and the .NET 10 build uses the framework's.
/// </summary>
internal static class Net8Extensions
{
    /// <summary><c>MemoryExtensions.Split(ReadOnlySpan&lt;char&gt;, char)</c>: the ranges between separators, empty ones included, with no allocation.</summary>
    public static SpanSplitEnumerator Split(this ReadOnlySpan<char> source, char separator) => new(source, separator);

    /// <summary><c>MemoryExtensions.StartsWith(ReadOnlySpan&lt;char&gt;, char)</c>.</summary>
    public static bool StartsWith(this ReadOnlySpan<char> span, char value) => !span.IsEmpty && span[0] == value;

    /// <summary>
    /// <c>TaskCompletionSource&lt;T&gt;.SetFromTask</c>: completes <paramref name="completion"/> as
    /// the completed <paramref name="task"/> did (result, every exception, or cancellation with
    /// its token).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="task"/> has not completed.</exception>
    public static void SetFromTask<T>(this TaskCompletionSource<T> completion, Task<T> task)
    {
        if (!task.IsCompleted)
        {
            throw new ArgumentException("The task has not completed.", nameof(task));
        }

        if (task.IsCanceled)
        {
            // The task's token travels only in the exception it throws; the task has completed,
            // so GetResult returns at once.
            try
            {
                task.GetAwaiter().GetResult(); // Completed (checked above): rethrows its cancellation, no blocking.
            }
            catch (OperationCanceledException e)
            {
                completion.SetCanceled(e.CancellationToken);
            }
        }
        else if (task.IsFaulted)
        {
            completion.SetException(task.Exception!.InnerExceptions);
        }
        else
        {
            completion.SetResult(task.Result); // Completed (checked above): no blocking.
        }
    }

    /// <summary>The enumerator of <see cref="Split"/>: each <see cref="Current"/> is a range of the source.</summary>
    public ref struct SpanSplitEnumerator
    {
        private readonly ReadOnlySpan<char> _source;
        private readonly char _separator;
        private int _start;
        private bool _done;

        internal SpanSplitEnumerator(ReadOnlySpan<char> source, char separator)
        {
            _source = source;
            _separator = separator;
            _start = 0;
            _done = false;
            Current = default;
        }

        /// <summary>The range of the current part.</summary>
        public Range Current { get; private set; }

        /// <summary>The enumerator itself, for <c>foreach</c>.</summary>
        public readonly SpanSplitEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next part; false after the last one.</summary>
        public bool MoveNext()
        {
            if (_done)
            {
                return false;
            }

            int next = _source[_start..].IndexOf(_separator);
            if (next < 0)
            {
                Current = _start.._source.Length;
                _done = true;
            }
            else
            {
                Current = _start..(_start + next);
                _start += next + 1;
            }

            return true;
        }
    }
}
#endif
