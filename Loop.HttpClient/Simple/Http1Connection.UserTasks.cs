using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Loop.Http.Simple;

/// <summary>
/// Waiting for the caller's own code: the task of a <see cref="HttpRequest.BodyProducer"/> or of
/// an <see cref="HttpFetchOptions.AsyncStreamingCallback"/>. Such a task may never end (it waits for
/// something of the caller's), so the exchange does not wait for it alone: an abort (a timeout,
/// a cancellation, the client closing) ends the wait at once with the abort's error, as it ends
/// a read from the socket by closing the stream.
/// </summary>
internal sealed partial class Http1Connection
{
    // Made on the first wait that has to suspend: a connection that never runs the caller's
    // code asynchronously (a plain keep-alive GET) never has one.
    private UserTaskWait? _userWait;

    // The body producer's wait, apart: while an upload runs beside the reading of an early
    // answer (see TakeHead), the producer and an async streaming callback may both be
    // waited for at once.
    private UserTaskWait? _producerWait;

    /// <summary>Whether a task of the caller's that the exchange gave up on (when it was aborted) is still running.</summary>
    private bool UserTaskOutstanding => _userWait?.IsUserTaskPending == true;

    /// <summary>
    /// A value task that ends when <paramref name="task"/> does (with its outcome), or when the
    /// exchange is aborted (with the abort's error), whichever is first. Await it once, on the
    /// loop thread, with <c>ConfigureAwait(false)</c>: it completes on the loop thread.
    /// </summary>
    private ValueTask WaitForUserTaskAsync(ValueTask task, bool producer = false)
    {
        if (task.IsCompleted)
        {
            return task;
        }

        UserTaskWait wait = producer ? _producerWait ??= new UserTaskWait() : _userWait ??= new UserTaskWait();
        return wait.Start(task, _abortError);
    }

    /// <summary>
    /// The reusable completion behind <see cref="WaitForUserTaskAsync"/>: one per connection,
    /// completed either by the caller's task (through a cached continuation, on the loop's
    /// context) or by <see cref="Abort"/>, whichever comes first.
    /// </summary>
    /// <remarks>
    /// After an abort the caller's task is still watched: when it ends, its outcome is taken (so
    /// a fault is observed, never left to the finalizer) and dropped, since the exchange has
    /// ended. An aborted connection is closed and never used again, so that late end cannot meet
    /// a later exchange; <see cref="Start"/> asserts it.
    /// </remarks>
    private sealed class UserTaskWait : IValueTaskSource
    {
        private readonly Action _onUserTaskCompleted;
        private ManualResetValueTaskSourceCore<bool> _core;
        private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _awaiter;

        // The exchange is waiting on _core (it has not been completed yet).
        private bool _waiting;

        public UserTaskWait()
        {
            // The exchange continues inline where the wait ends: on the loop thread.
            _core.RunContinuationsAsynchronously = false;
            _onUserTaskCompleted = OnUserTaskCompleted;
        }

        /// <summary>Whether the caller's task last waited for has not ended yet.</summary>
        public bool IsUserTaskPending { get; private set; }

        public ValueTask Start(ValueTask task, Exception? abortError)
        {
            Debug.Assert(!IsUserTaskPending, "A connection that gave up on a task of the caller's was used again.");
            _core.Reset();
            _waiting = true;
            IsUserTaskPending = true;

            // On the loop's context: the task may end on any thread.
            _awaiter = task.ConfigureAwait(true).GetAwaiter();
            _awaiter.UnsafeOnCompleted(_onUserTaskCompleted);
            if (abortError is not null)
            {
                // Aborted while the caller's code ran (it closed the client, say): no wait.
                Abort(abortError);
            }

            return new ValueTask(this, _core.Version);
        }

        /// <summary>Ends the wait, if there is one, with <paramref name="error"/>; the exchange continues inline.</summary>
        public void Abort(Exception error)
        {
            if (_waiting)
            {
                _waiting = false;
                _core.SetException(error);
            }
        }

        public void GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        private void OnUserTaskCompleted()
        {
            ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter awaiter = _awaiter;
            _awaiter = default;
            IsUserTaskPending = false;
            Exception? error = null;
            try
            {
                awaiter.GetResult();
            }
            catch (Exception e)
            {
                // The caller's code failed: the exchange fails with it (as if awaited directly),
                // or, when the exchange was aborted first, the failure is observed and dropped.
                error = e;
            }

            if (!_waiting)
            {
                return;
            }

            _waiting = false;
            if (error is null)
            {
                _core.SetResult(true);
            }
            else
            {
                _core.SetException(error);
            }
        }
    }
}
