using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using HeaderStringValues = System.Net.Http.Headers.HeaderStringValues;

namespace Loop.Http.Internal;

/// <summary>
/// One <see cref="HttpRequestMessage"/> on a Loop client, redirects included: the fetch of each
/// hop, the response head read from the header callback (published as soon as the final head
/// has arrived), the body streamed through a bounded pipe to the caller's content stream, and
/// the request content streamed from the thread pool to the client's body producer.
/// </summary>
/// <remarks>
/// Threads: the constructor and <see cref="Start"/> on the caller's; the header, body and
/// producer callbacks on the loop's; the end of each fetch wherever the client completes it
/// (off the loop when the fetch was started off it). The caller's continuations never run on the
/// loop: the head is a task with asynchronous continuations, and the body pipe's reader resumes
/// on the thread pool.
/// </remarks>
internal sealed class LoopExchange
{
    private static readonly HttpMethod s_patch = HttpMethod.Patch;

    private readonly AsyncHttpClient _client;
    private readonly LoopHttpMessageHandlerOptions _options;
    private readonly HttpRequestMessage _message;
    private readonly CancellationToken _callerToken;
    private readonly CancellationTokenSource _abort;
    private readonly TaskCompletionSource<HttpResponseMessage> _head = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Pipe _body;
    private readonly LoopPipeScheduler _loopScheduler;
    private readonly bool _decompress;
#if NET9_0_OR_GREATER
    private readonly Lock _gate = new();
#else
    private readonly object _gate = new();
#endif

    // The hop being fetched.
    private Uri _uri;
    private HttpMethod _method;
    private HttpContent? _content;
    private int _redirects;
    private Pipe? _requestPipe;

    // The head as it arrives (loop thread).
    private readonly List<KeyValuePair<string, string>> _fields = [];
    private int _status;
    private Version _version = HttpVersion.Version11;
    private string _reason = string.Empty;
    private bool _inHead;
    private bool _headEnded;
    private Uri? _redirect;
    private bool _published;

    private bool _ended;
    private long _bytesWritten;
    private long _bytesRead;
    private int _flushPending;

    public LoopExchange(AsyncHttpClient client, LoopHttpMessageHandlerOptions options, HttpRequestMessage message, CancellationToken cancellationToken)
    {
        _client = client;
        _options = options;
        _message = message;
        _callerToken = cancellationToken;
        _uri = message.RequestUri!;
        _method = message.Method;
        _content = message.Content;
        _decompress = options.DecompressResponse ?? client.Defaults?.DecompressResponse ?? false;
        _loopScheduler = new LoopPipeScheduler(client.Loop);
        _body = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: _loopScheduler,
            pauseWriterThreshold: options.ResponseBufferSize,
            resumeWriterThreshold: options.ResponseBufferSize / 2,
            useSynchronizationContext: false));
        _abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>Body bytes the loop has put in the pipe so far.</summary>
    internal long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Body bytes the caller has read so far.</summary>
    internal long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>Whether the loop is waiting for the reader to take some of the body (the socket is not read meanwhile).</summary>
    internal bool IsWaitingForReader => Volatile.Read(ref _flushPending) != 0;

    /// <summary>Starts the first hop; the task completes when the final head has arrived or the request failed.</summary>
    /// <exception cref="HttpRequestException">The request cannot be sent as it is (a header the client refuses, an HTTP version it cannot speak).</exception>
    public Task<HttpResponseMessage> Start()
    {
        try
        {
            StartHop();
        }
        catch
        {
            End();
            throw;
        }

        return _head.Task;
    }

    /// <summary>Aborts the transfer (the content was disposed or a read of it canceled); does nothing once the fetch has ended.</summary>
    public void Abort()
    {
        lock (_gate)
        {
            if (!_ended)
            {
                _abort.Cancel();
            }
        }
    }

    public void CountRead(int count) => Interlocked.Add(ref _bytesRead, count);

    public void ThrowIfOnLoopThread()
    {
        if (_client.Loop.IsOnLoopThread)
        {
            throw new InvalidOperationException("A synchronous read of a Loop response on the loop's own thread would wait for itself: read it asynchronously.");
        }
    }

    private void StartHop()
    {
        HttpRequest request = BuildRequest();
        Task<HttpResponse> fetch;
        try
        {
            fetch = _client.FetchAsync(request, raiseError: false, _abort.Token);
        }
        catch (ArgumentException e)
        {
            // CR or LF in a header, a framing header that disagrees with the content, ...: as
            // SocketsHttpHandler, a request it cannot write is an HttpRequestException.
            throw new HttpRequestException(HttpRequestError.Unknown, e.Message, e);
        }

        fetch.ContinueWith(
            static (task, state) => ((LoopExchange)state!).OnFetchEnded(task),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private HttpRequest BuildRequest()
    {
        if (!_uri.IsAbsoluteUri || _uri.Scheme is not ("http" or "https"))
        {
            throw new HttpRequestException(HttpRequestError.Unknown, $"Only absolute http and https URIs can be fetched, not '{_uri}'.");
        }

        var request = new HttpRequest(_uri.AbsoluteUri, _method.Method)
        {
            AllowNonstandardMethods = true,
            FollowRedirects = false,
            DecompressResponse = _decompress,
            ConnectTimeout = _options.ConnectTimeout ?? _client.Defaults?.ConnectTimeout ?? TimeSpan.Zero,
            RequestTimeout = _options.RequestTimeout ?? _client.Defaults?.RequestTimeout ?? TimeSpan.Zero,
            HttpVersion = VersionToAsk(),
            HeaderCallback = OnHeaderLine,
            AsyncStreamingCallback = OnBodyChunk,
        };

        HttpHeaders headers = request.Headers;
        foreach (KeyValuePair<string, HeaderStringValues> header in _message.Headers.NonValidated)
        {
            string name = header.Key;
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                // The client chunks a body of unknown length itself.
                continue;
            }

            if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase) && header.Value.ToString().Equals("100-continue", StringComparison.OrdinalIgnoreCase))
            {
                request.Expect100Continue = _content is not null;
                continue;
            }

            headers.Add(name, Join(name, header.Value));
        }

        if (_content is { } content)
        {
            foreach (KeyValuePair<string, HeaderStringValues> header in content.Headers.NonValidated)
            {
                if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    headers.Add(header.Key, Join(header.Key, header.Value));
                }
            }

            long? length = content.Headers.ContentLength;
            if (length == 0)
            {
                request.Body = [];
            }
            else
            {
                if (length is { } known)
                {
                    headers.Add("Content-Length", known.ToString(CultureInfo.InvariantCulture));
                }

                request.BodyProducer = ProduceBodyAsync;
            }
        }
        else if (_method == HttpMethod.Post || _method == HttpMethod.Put || _method == s_patch)
        {
            // As SocketsHttpHandler: Content-Length: 0 for a method that expects a body.
            request.Body = [];
        }

        return request;
    }

    private static string Join(string name, HeaderStringValues values)
    {
        if (values.Count == 1)
        {
            return values.ToString();
        }

        string separator = name.Equals("User-Agent", StringComparison.OrdinalIgnoreCase) || name.Equals("Server", StringComparison.OrdinalIgnoreCase) ? " "
            : name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) ? "; " : ", ";
        return string.Join(separator, values);
    }

    /// <summary>The version to ask the client for, from the message's version and policy.</summary>
    private Version? VersionToAsk()
    {
        Version asked = _message.Version;
        HttpVersionPolicy policy = _message.VersionPolicy;
        if (_client is SimpleAsyncHttpClient)
        {
            if (asked.Major >= 2 && policy != HttpVersionPolicy.RequestVersionOrLower)
            {
                throw new HttpRequestException(HttpRequestError.VersionNegotiationError, $"HTTP/{asked} was required, and {nameof(SimpleAsyncHttpClient)} speaks HTTP/1.1 only (the curl client speaks HTTP/2).");
            }

            return null;
        }

        if (asked.Major >= 3 && policy != HttpVersionPolicy.RequestVersionOrLower)
        {
            throw new HttpRequestException(HttpRequestError.VersionNegotiationError, $"HTTP/{asked} was required, and the Loop clients speak at most HTTP/2.");
        }

        return asked.Major >= 2 ? HttpVersion.Version20 : asked.Minor == 0 ? HttpVersion.Version10 : HttpVersion.Version11;
    }

    /// <summary>The body producer (on the loop thread): the content is serialized on the thread pool into a bounded pipe, and each piece handed to the client's write function.</summary>
    private Task ProduceBodyAsync(Func<ReadOnlyMemory<byte>, ValueTask> write)
    {
        var pipe = new Pipe(new PipeOptions(
            readerScheduler: _loopScheduler,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: 64 * 1024,
            resumeWriterThreshold: 32 * 1024,
            useSynchronizationContext: false));
        Volatile.Write(ref _requestPipe, pipe);
        HttpContent content = _content!;
        CancellationToken token = _abort.Token;
        _ = Task.Run(() => SerializeContentAsync(content, pipe.Writer, token), CancellationToken.None);
        return SendContentAsync(pipe.Reader, write);
    }

    private static async Task SerializeContentAsync(HttpContent content, PipeWriter writer, CancellationToken cancellationToken)
    {
        try
        {
            await content.CopyToAsync(new PipeSinkStream(writer), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Whatever the content threw goes to the loop side, which fails the fetch with it.
            await writer.CompleteAsync(e).ConfigureAwait(false);
            return;
        }

        await writer.CompleteAsync().ConfigureAwait(false);
    }

    private static async Task SendContentAsync(PipeReader reader, Func<ReadOnlyMemory<byte>, ValueTask> write)
    {
        try
        {
            while (true)
            {
                // Resumes on the loop (the pipe's reader scheduler).
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("The request ended before its content was sent.");
                }

                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    // On the loop's context: the client's write may complete on another thread.
                    await write(segment).ConfigureAwait(true);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(true);
        }
    }

    /// <summary>A header line of the response (loop thread): the status line, the fields, the blank line; 1xx heads are skipped, trailers ignored.</summary>
    private void OnHeaderLine(string line)
    {
        if (_headEnded)
        {
            return;
        }

        ReadOnlySpan<char> text = line.AsSpan().TrimEnd("\r\n");
        if (!_inHead)
        {
            if (text.StartsWith("HTTP/", StringComparison.Ordinal))
            {
                ParseStatusLine(text);
            }

            return;
        }

        if (text.IsEmpty)
        {
            _inHead = false;
            if (_status >= 200)
            {
                OnFinalHead();
            }

            return;
        }

        if (text[0] is ' ' or '\t' && _fields.Count > 0)
        {
            // obs-fold: the line continues the previous field's value.
            KeyValuePair<string, string> last = _fields[^1];
            _fields[^1] = new(last.Key, last.Value + " " + text.Trim().ToString());
            return;
        }

        int colon = text.IndexOf(':');
        if (colon > 0)
        {
            _fields.Add(new(text[..colon].ToString(), text[(colon + 1)..].Trim(" \t").ToString()));
        }
    }

    private void ParseStatusLine(ReadOnlySpan<char> text)
    {
        // HTTP/1.1 200 OK, or curl's "HTTP/2 200" (the clients have checked the form already).
        int space = text.IndexOf(' ');
        if (space < 0)
        {
            return;
        }

        ReadOnlySpan<char> version = text[5..space];
        _version = version switch
        {
            "1.0" => HttpVersion.Version10,
            "2" or "2.0" => HttpVersion.Version20,
            "3" or "3.0" => HttpVersion.Version30,
            _ => HttpVersion.Version11,
        };
        ReadOnlySpan<char> rest = text[(space + 1)..];
        if (rest.Length < 3 || !int.TryParse(rest[..3], NumberStyles.None, CultureInfo.InvariantCulture, out _status))
        {
            return;
        }

        _reason = rest.Length > 4 ? rest[4..].ToString() : string.Empty;
        _fields.Clear();
        _inHead = true;
    }

    /// <summary>The final head of this hop (loop thread): a redirect to follow, or the response, published now.</summary>
    private void OnFinalHead()
    {
        _headEnded = true;
        _redirect = RedirectTarget();
        if (_redirect is not null)
        {
            // Its body is read and dropped by the fetch, which keeps the connection; the next hop starts when it ends.
            return;
        }

        var response = new HttpResponseMessage((HttpStatusCode)_status)
        {
            ReasonPhrase = _reason,
            Version = _version,
            RequestMessage = _message,
            Content = new LoopResponseContent(new LoopResponseStream(_body.Reader, this)),
        };
        bool decoded = _decompress && HasContentCoding();
        foreach (KeyValuePair<string, string> field in _fields)
        {
            if (decoded && (field.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) || field.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                // The body is decoded as it arrives: these describe what was sent, not what is read.
                continue;
            }

            if (!response.Headers.TryAddWithoutValidation(field.Key, field.Value))
            {
                response.Content.Headers.TryAddWithoutValidation(field.Key, field.Value);
            }
        }

        _published = true;
        _head.TrySetResult(response);
    }

    private bool HasContentCoding()
    {
        foreach (KeyValuePair<string, string> field in _fields)
        {
            if (field.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) && !field.Value.Equals("identity", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private Uri? RedirectTarget()
    {
        if (!_options.AllowAutoRedirect || _status is not (300 or 301 or 302 or 303 or 307 or 308) || _redirects >= _options.MaxAutomaticRedirections)
        {
            return null;
        }

        string? location = null;
        foreach (KeyValuePair<string, string> field in _fields)
        {
            if (field.Key.Equals("Location", StringComparison.OrdinalIgnoreCase))
            {
                location = field.Value;
                break;
            }
        }

        if (location is null || !Uri.TryCreate(_uri, location, out Uri? target) || target.Scheme is not ("http" or "https")
            || (_uri.Scheme == "https" && target.Scheme == "http"))
        {
            // As SocketsHttpHandler: no redirect to another scheme, nor from https down to http.
            return null;
        }

        if (target.Fragment.Length == 0 && _uri.Fragment.Length > 0)
        {
            target = new UriBuilder(target) { Fragment = _uri.Fragment[1..] }.Uri;
        }

        return target;
    }

    /// <summary>A piece of the body (loop thread): into the pipe; the task completes once the pipe is below its limit again.</summary>
    private ValueTask OnBodyChunk(ReadOnlyMemory<byte> chunk)
    {
        if (!_published)
        {
            return default; // The body of a redirect that is followed.
        }

        PipeWriter writer = _body.Writer;
        writer.Write(chunk.Span);
        Interlocked.Add(ref _bytesWritten, chunk.Length);
        ValueTask<FlushResult> flush = writer.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            return flush.Result.IsCompleted ? ValueTask.FromException(ReaderGone()) : default; // Completed (checked above): no blocking.
        }

        return WaitForReaderAsync(flush);
    }

    private async ValueTask WaitForReaderAsync(ValueTask<FlushResult> flush)
    {
        Volatile.Write(ref _flushPending, 1);
        FlushResult result;
        try
        {
            // Resumes on the loop (the pipe's writer scheduler).
            result = await flush.ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _flushPending, 0);
        }

        if (result.IsCompleted)
        {
            throw ReaderGone();
        }
    }

    private static OperationCanceledException ReaderGone() => new("The response content was disposed before the body's end.");

    /// <summary>A hop's fetch has ended: follow its redirect, or end the body (or the request) with its outcome.</summary>
    private void OnFetchEnded(Task<HttpResponse> task)
    {
        Exception? failure = null;
        if (task.IsCanceled)
        {
            failure = new OperationCanceledException(_abort.Token);
        }
        else if (task.Exception is { } faulted)
        {
            failure = faulted.InnerException ?? faulted;
        }
        else
        {
            using HttpResponse response = task.Result; // The fetch's task has ended (this is its continuation): no blocking.

            // A 599 the client made (a subtype, or its plain error around a cause); a server's own
            // 599, or any other non-2xx, is a response.
            if (response.Error is HttpClientError error && (error.GetType() != typeof(HttpClientError) || error.InnerException is not null))
            {
                failure = error;
            }
            else if (!_published && _redirect is { } target)
            {
                FollowRedirect(target);
                return;
            }
            else if (!_published)
            {
                // Both clients report the final head before they end a fetch; should one not, the
                // caller gets an error rather than a wait that never ends.
                failure = new HttpProtocolError($"The fetch ended ({response.Code}) without reporting its response head.");
            }
        }

        _requestPipe?.Reader.CancelPendingRead();
        if (failure is null)
        {
            _body.Writer.Complete();
        }
        else
        {
            Exception mapped = ErrorMapping.Map(failure, _callerToken, _published);
            if (_published)
            {
                _body.Writer.Complete(mapped);
            }
            else
            {
                _body.Writer.Complete();
                _head.TrySetException(mapped);
            }
        }

        End();
    }

    private void FollowRedirect(Uri target)
    {
        _requestPipe?.Reader.CancelPendingRead();
        _requestPipe = null;
        _redirects++;
        int status = _status;
        if ((status is 300 or 301 or 302 && _method == HttpMethod.Post) || (status == 303 && _method != HttpMethod.Head))
        {
            // As SocketsHttpHandler: the redirected request is a GET without the content.
            _method = HttpMethod.Get;
            _content = null;
            _message.Method = HttpMethod.Get;
            _message.Content = null;
            _message.Headers.TransferEncodingChunked = false;
        }

        // As SocketsHttpHandler: credentials are not sent on after a redirect.
        _message.Headers.Authorization = null;
        _uri = target;
        _message.RequestUri = target;
        _status = 0;
        _reason = string.Empty;
        _fields.Clear();
        _inHead = false;
        _headEnded = false;
        _redirect = null;
        try
        {
            StartHop();
        }
        catch (HttpRequestException e)
        {
            _body.Writer.Complete();
            _head.TrySetException(e);
            End();
        }
        catch (ObjectDisposedException e)
        {
            _body.Writer.Complete();
            _head.TrySetException(ErrorMapping.Map(e, _callerToken, afterHead: false));
            End();
        }
    }

    private void End()
    {
        lock (_gate)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;

            // Stops a content still being serialized for a request that has ended.
            _abort.Cancel();
        }

        _abort.Dispose();
    }
}
