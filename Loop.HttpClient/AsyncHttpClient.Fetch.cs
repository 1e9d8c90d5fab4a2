using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Loop.Http;

/// <summary>
/// A fetch's life in the base class: the entry points (<c>FetchAsync</c>, <c>FetchValueAsync</c>),
/// the pooled fetch state, the run of the implementation's <c>FetchCoreAsync</c>, and the end that
/// completes the caller's task or value task.
/// </summary>
public abstract partial class AsyncHttpClient
{
    /// <summary>Fetches <paramref name="url"/> with a GET and the client's defaults.</summary>
    /// <inheritdoc cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>
    public Task<HttpResponse> FetchAsync(string url, bool raiseError = true, CancellationToken cancellationToken = default) =>
        FetchAsync(new HttpRequest(url), raiseError, cancellationToken);

    /// <summary>
    /// Fetches <paramref name="request"/>. With <paramref name="raiseError"/> the task fails with
    /// an <see cref="HttpClientError"/> for a non-2xx response (its <see cref="HttpClientError.Response"/>
    /// holds it) or for a failure before any response (code 599, the cause inside). Without it a
    /// response always comes back, with <see cref="HttpResponse.Error"/> set in those cases.
    /// Cancelling <paramref name="cancellationToken"/> aborts the transfer, frees its connection
    /// and cancels the task.
    /// </summary>
    /// <exception cref="ArgumentException">The request is invalid (a CR or LF in the method, URL or a header; a body where the method forbids one, or none where it needs one; a Content-Length, Transfer-Encoding, Host, Connection or Upgrade header that disagrees with the request, as <see cref="HttpRequest.Headers"/> says; an unsupported scheme or auth mode). Thrown at the call, whatever <paramref name="raiseError"/> says.</exception>
    /// <exception cref="ObjectDisposedException">The client was closed.</exception>
    public Task<HttpResponse> FetchAsync(HttpRequest request, bool raiseError = true, CancellationToken cancellationToken = default)
    {
        FetchState fetch = BeginFetch(request, raiseError, cancellationToken);
        if (Loop.IsOnLoopThread)
        {
            return RunFetchAsync(fetch);
        }

        return RunFromOtherThread(fetch);
    }

    /// <summary>Fetches <paramref name="url"/> with a GET and the client's defaults, as a value task.</summary>
    /// <inheritdoc cref="FetchValueAsync(HttpRequest, bool, CancellationToken)"/>
    public ValueTask<HttpResponse> FetchValueAsync(string url, bool raiseError = true, CancellationToken cancellationToken = default) =>
        FetchValueAsync(new HttpRequest(url), raiseError, cancellationToken);

    /// <summary>
    /// <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/> as a <see cref="ValueTask{TResult}"/>,
    /// for code on the loop thread that counts allocations: there, the value task comes from the
    /// client's pooled fetch state, so a fetch allocates no <see cref="Task"/>, and an
    /// <c>await</c> under the loop's context allocates no continuation (it resumes inline on the
    /// loop thread when the fetch ends, as an await of the task does). Together that is about 110
    /// bytes less per fetch.
    /// Everything else is as <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/> says.
    /// Await the value task once, or call <see cref="ValueTask{TResult}.AsTask"/> once, and
    /// nothing more: the state behind it serves a later fetch once its result is taken (a
    /// second await throws <see cref="InvalidOperationException"/> while the state is idle, and
    /// may see another fetch's outcome after that). For <c>Task.WhenAll</c> and other
    /// combinators, use <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>. Off the
    /// loop thread this wraps <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>'s task.
    /// </summary>
    /// <inheritdoc cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>
    public ValueTask<HttpResponse> FetchValueAsync(HttpRequest request, bool raiseError = true, CancellationToken cancellationToken = default)
    {
        if (!Loop.IsOnLoopThread)
        {
            return new ValueTask<HttpResponse>(FetchAsync(request, raiseError, cancellationToken));
        }

        FetchState fetch = BeginFetch(request, raiseError, cancellationToken);
        ValueTask<HttpResponse> outcome = fetch.BindValueCaller(this);
        RunCore(fetch);
        return outcome;
    }

    /// <summary>Fetches <paramref name="url"/> with a GET and the client's defaults, for an <see cref="HttpResult"/>.</summary>
    /// <inheritdoc cref="FetchResultAsync(HttpRequest, bool, CancellationToken)"/>
    public ValueTask<HttpResult> FetchResultAsync(string url, bool raiseError = true, CancellationToken cancellationToken = default) =>
        FetchResultAsync(new HttpRequest(url), raiseError, cancellationToken);

    /// <summary>
    /// <see cref="FetchValueAsync(HttpRequest, bool, CancellationToken)"/> for a caller that needs
    /// no <see cref="HttpResponse"/> object: the outcome comes as an <see cref="HttpResult"/>
    /// value. On the loop thread the simple client then makes no response object for a 2xx
    /// answer, so a keep-alive fetch whose body goes to a
    /// <see cref="HttpFetchOptions.StreamingCallback"/>, with the request object reused,
    /// allocates nothing once the client is warm (a buffered body allocates its array).
    /// A non-2xx answer, a failure, a fetch a listener or logger observes
    /// (<see cref="HttpTelemetry"/>) and the curl client still make the response behind the
    /// value. The rules of <see cref="FetchValueAsync(HttpRequest, bool, CancellationToken)"/>
    /// apply: await the value task once. Off the loop thread this wraps
    /// <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>'s task.
    /// Everything else is as <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/> says.
    /// </summary>
    /// <inheritdoc cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>
    public ValueTask<HttpResult> FetchResultAsync(HttpRequest request, bool raiseError = true, CancellationToken cancellationToken = default)
    {
        if (!Loop.IsOnLoopThread)
        {
            return new ValueTask<HttpResult>(ResultOfAsync(FetchAsync(request, raiseError, cancellationToken)));
        }

        FetchState fetch = BeginFetch(request, raiseError, cancellationToken);
        ValueTask<HttpResult> outcome = fetch.BindResultCaller(this);
        RunCore(fetch);
        return outcome;
    }

    private static async Task<HttpResult> ResultOfAsync(Task<HttpResponse> fetch) => new(await fetch.ConfigureAwait(false));

    /// <summary>Checks the call and readies a fetch state for it (the part common to every fetch method).</summary>
    private FetchState BeginFetch(HttpRequest request, bool raiseError, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_closed, this);
        RequestUrl url = RequestUrl.Parse(request.Url)
            ?? throw new ArgumentException($"Unsupported URL '{request.Url}': an absolute http or https URL is needed.", nameof(request));
        FetchState fetch = RentFetchState();
        fetch.Reset(request, Settings.Defaults, url, raiseError, cancellationToken, Stopwatch.GetTimestamp());
        try
        {
            Validate(fetch.Request);
        }
        catch
        {
            ReturnFetchState(fetch);
            throw;
        }

        if (HttpTelemetry.RequestObserved || Logger.IsEnabled(LogLevel.Debug))
        {
            // Listeners and loggers run here: the first hop reads the clock for itself.
            BeginObserved(fetch);
        }
        else if (Loop.IsOnLoopThread)
        {
            // Every fetch method then starts the fetch before it returns (RunCore).
            fetch.RunsFromCall();
        }

        return fetch;
    }

    /// <summary>
    /// A fetch called off the loop: run on the loop, and complete the caller's task off it. (Its
    /// own method, so the closure is made only here: a lambda in FetchAsync would be allocated on
    /// every call.)
    /// </summary>
    private Task<HttpResponse> RunFromOtherThread(FetchState fetch)
    {
        var completion = new TaskCompletionSource<HttpResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        Loop.AddCallback(() => RunFetchAsync(fetch).ContinueWith(
            static (task, state) => ((TaskCompletionSource<HttpResponse>)state!).SetFromTask(task),
            completion,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default));
        return completion.Task;
    }

    private FetchState RentFetchState() =>
        Loop.IsOnLoopThread && _fetchPool.TryPop(out FetchState? reused) ? reused : new FetchState();

    /// <summary>A <see cref="FetchValueAsync(HttpRequest, bool, CancellationToken)"/> caller took the outcome: the state may serve another fetch.</summary>
    internal void ReturnValueState(FetchState fetch) => ReturnFetchState(fetch);

    private void ReturnFetchState(FetchState fetch)
    {
        fetch.Release();
        if (Loop.IsOnLoopThread && _fetchPool.Count < FetchPoolLimit)
        {
            _fetchPool.Push(fetch);
        }
    }

    /// <summary>
    /// Runs the implementation's fetch and gives the caller a task for its outcome. Not an async
    /// method: the implementation's value task is awaited with a continuation the pooled fetch
    /// state keeps, and the caller's task is a bare promise completed from it, so a fetch
    /// allocates that task only (an async method's task would carry its state machine too).
    /// </summary>
    private Task<HttpResponse> RunFetchAsync(FetchState fetch)
    {
        AsyncTaskMethodBuilder<HttpResponse> completion = AsyncTaskMethodBuilder<HttpResponse>.Create();
        Task<HttpResponse> task = completion.Task;
        fetch.Completion = completion;
        RunCore(fetch);
        return task;
    }

    /// <summary>
    /// Starts the implementation's fetch and ends it (<see cref="EndFetch(FetchState, HttpResponse?, Exception?)"/>)
    /// when it completes: directly from the implementation when it took the fetch in
    /// <see cref="TryStartDirect"/>, otherwise at once or from the continuation the fetch state keeps.
    /// </summary>
    private void RunCore(FetchState fetch)
    {
        bool direct;
        try
        {
            direct = TryStartDirect(fetch);
        }
        catch (Exception e)
        {
            EndFetch(fetch, null, e);
            return;
        }

        if (!direct)
        {
            EndWhenDone(fetch, StartCore(fetch));
        }
    }

    /// <summary>
    /// Takes the fetch without the implementation's async method when it can: the common case,
    /// where a slot is free and the request needs nothing it would wait for before its exchange
    /// (a kept connection, for the simple client). The implementation then ends the fetch with
    /// <see cref="EndDirect"/>, or hands the rest of it to <see cref="EndWhenDone"/>. Returns
    /// false, having changed nothing, when it cannot; then <see cref="FetchCoreAsync"/> runs it.
    /// </summary>
    private protected virtual bool TryStartDirect(FetchState fetch) => false;

    /// <summary>Ends a fetch the implementation took in <see cref="TryStartDirect"/>, with its final response or what failed it. Loop thread.</summary>
    private protected void EndDirect(FetchState fetch, HttpResponse? response, Exception? error) => EndFetch(fetch, response, error);

    /// <summary>Ends the fetch when <paramref name="rest"/> completes: at once, or from the continuation the fetch state keeps.</summary>
    private protected void EndWhenDone(FetchState fetch, ValueTask<HttpResponse> rest)
    {
        ConfiguredValueTaskAwaitable<HttpResponse>.ConfiguredValueTaskAwaiter awaiter = rest.ConfigureAwait(false).GetAwaiter();
        if (awaiter.IsCompleted)
        {
            EndFetch(fetch, awaiter);
        }
        else
        {
            // The implementations complete on the loop thread, where this continues.
            fetch.CoreAwaiter = awaiter;
            awaiter.UnsafeOnCompleted(fetch.OnCoreCompleted ??= EndFetchCallback(fetch));
        }
    }

    /// <summary>
    /// The continuation a fetch state keeps for <see cref="EndFetch(FetchState, ConfiguredValueTaskAwaitable{HttpResponse}.ConfiguredValueTaskAwaiter)"/>. (Made here: a lambda in
    /// RunFetchAsync would allocate its closure on every call, used or not.)
    /// </summary>
    private Action EndFetchCallback(FetchState fetch) => () => EndFetch(fetch, fetch.CoreAwaiter);

    /// <summary>The implementation's fetch, a synchronous throw turned into a faulted value task.</summary>
    private ValueTask<HttpResponse> StartCore(FetchState fetch)
    {
        try
        {
            return FetchCoreAsync(fetch);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<HttpResponse>(e);
        }
    }

    /// <summary>The implementation's fetch has ended: its outcome taken from <paramref name="awaiter"/>.</summary>
    private void EndFetch(FetchState fetch, ConfiguredValueTaskAwaitable<HttpResponse>.ConfiguredValueTaskAwaiter awaiter)
    {
        fetch.CoreAwaiter = default;
        HttpResponse? response = null;
        Exception? error = null;
        try
        {
            response = awaiter.GetResult();
        }
        catch (Exception e)
        {
            error = e;
        }

        EndFetch(fetch, response, error);
    }

    /// <summary>
    /// The implementation's fetch has ended with <paramref name="result"/> or <paramref name="thrown"/>:
    /// gives the fetch state back and completes the caller's task with the response, a 599
    /// response, or the error (<see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/>).
    /// </summary>
    private void EndFetch(FetchState fetch, HttpResponse? result, Exception? thrown)
    {
        AsyncTaskMethodBuilder<HttpResponse> completion = fetch.Completion;
        fetch.Completion = default;
        HttpResponse? response = null;
        Exception? failure = null;
        try
        {
            if (thrown is null)
            {
                response = result!;
                if (fetch.RaiseError && response.Error is not null)
                {
                    failure = response.Error;
                }
            }
            else if (thrown is OperationCanceledException && fetch.CancellationToken.IsCancellationRequested)
            {
                // The task ends cancelled (as an async method's does when it throws this).
                failure = thrown;
            }
            else
            {
                // Every failure a server can cause is raised by the implementations as a typed
                // HttpClientError subtype. The plain 599 below is only for what is not the
                // server's doing: the caller's own callback or body producer threw, the client
                // was closed under the fetch, or a bug in the client. The cause is inside.
                HttpClientError error = thrown as HttpClientError ?? new HttpClientError(599, thrown.Message, innerException: thrown);
                if (fetch.RaiseError)
                {
                    failure = error;
                }
                else
                {
                    response = new HttpResponse(fetch.Original, 599, error.Message, error: error, requestTime: fetch.Elapsed(), startTime: fetch.StartTime, timeInfo: fetch.Times);
                    error.Response ??= response;
                }
            }
        }
        finally
        {
            if (fetch.Observed)
            {
                EndObserved(fetch, response, failure);
            }

            // Nothing refers to the state once the fetch has ended (the response has its own
            // TimeInfo); a value-task caller's state is taken back when it has the outcome.
            if (fetch.HasValueCaller)
            {
                fetch.Release();
            }
            else
            {
                ReturnFetchState(fetch);
            }
        }

        if (fetch.HasValueCaller)
        {
            fetch.SetValueOutcome(response, failure);
        }
        else if (failure is null)
        {
            completion.SetResult(response!);
        }
        else
        {
            completion.SetException(failure);
        }
    }
}
