using System.Diagnostics.CodeAnalysis;
using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Text;
using Loop.Http.Internal;

namespace Loop.Http.Simple;

/// <summary>Writing the request: the head straight into the stream's buffer, then the body or what the body producer writes.</summary>
internal sealed partial class Http1Connection
{
    // A small body goes out in one send with the head.
    private const int SmallBody = 64 * 1024;

    // Whether the whole body went out, and the failed write when the server went away first.
    private bool _bodySent;
    private StreamClosedException? _sendFailure;

    // An upload still running while the answer is read (see WatchUpload), whether the exchange
    // gave up on it (the server answered first), and how it failed when the caller's code threw.
    private Task? _upload;
    private bool _uploadStopped;
    private ExceptionDispatchInfo? _uploadError;

    /// <summary>
    /// Sends the head, and the body unless it waits for a 100 Continue. The server may answer
    /// before the upload is finished (an early 413, then a close or a reset under our write):
    /// what it said is the outcome, as curl returns it. So a write that fails because the peer
    /// went away is kept in <see cref="_sendFailure"/> rather than thrown, and the response is
    /// read from what the stream buffered; only when no response head arrived is it the failure.
    /// A server may also answer and then neither read nor close (the write stalls): an upload
    /// that does not finish at once runs beside the reading of the answer (see
    /// <see cref="WatchUpload"/>).
    /// </summary>
    private ValueTask SendRequest(bool chunkedUpload, bool expectContinue)
    {
        if (expectContinue || chunkedUpload || _request.BodyProducer is not null || _request.Body is { Length: > SmallBody })
        {
            return SendRequestAsync(chunkedUpload, expectContinue);
        }

        // No body, or a small one that goes with the head in one send (a GET, most often): when
        // the socket takes it at once, as it usually does, no state machine runs for the send.
        PipeWriter output = Stream.Output;
        WriteHead(output, chunkedUpload: false, expectContinue: false);
        ValueTask<FlushResult> flush;
        try
        {
            if (_request.Body is { Length: > 0 } small)
            {
                output.Write(small);
            }

            flush = output.FlushAsync();
            if (flush.IsCompletedSuccessfully)
            {
                _ = flush.Result; // Completed (checked above): takes the outcome, does not block.
                _bodySent = true;
                return default;
            }
        }
        catch (StreamClosedException e) when (_abortError is null)
        {
            _sendFailure = e;
            return default;
        }

        return FinishSendAsync(flush);
    }

    /// <summary>The rest of <see cref="SendRequest"/> when the socket did not take the request at once.</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask FinishSendAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (StreamClosedException e) when (_abortError is null)
        {
            _sendFailure = e;
            return;
        }

        _bodySent = true;
    }

    /// <summary>
    /// <see cref="SendRequest"/> for the requests it does not send itself: a body that is
    /// produced, large, or waits for a 100 Continue.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask SendRequestAsync(bool chunkedUpload, bool expectContinue)
    {
        PipeWriter output = Stream.Output;
        WriteHead(output, chunkedUpload, expectContinue);
        try
        {
            await output.FlushAsync().ConfigureAwait(false);
        }
        catch (StreamClosedException e) when (_abortError is null)
        {
            _sendFailure = e;
            return;
        }

        if (!expectContinue)
        {
            await SendBodyAsync(chunkedUpload).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Lets an upload that waits for the socket (or for the body producer) run on while the
    /// response is read, so that an answer the server sends before the body is all sent (an
    /// early 413 from a server that then reads no more) is seen rather than waited past until
    /// the timeout. Only an upload that did not finish at once comes here: a request without a
    /// body, or whose send completed synchronously, allocates nothing for this.
    /// </summary>
    private void WatchUpload(ValueTask sending)
    {
        _upload = WatchUploadAsync(sending);
    }

    /// <summary>
    /// Awaits the upload; when it fails (the caller's producer threw: a write that failed because
    /// the server went away is already kept in <see cref="_sendFailure"/>), keeps the failure for
    /// the exchange and closes the stream, which ends the read of an answer that would never come.
    /// </summary>
    private async Task WatchUploadAsync(ValueTask sending)
    {
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Not swallowed: the exchange rethrows it (RunAsync), unless the exchange already gave
            // up on the upload (the server answered first), when what it ended with does not matter.
            if (!_uploadStopped)
            {
                _uploadError = ExceptionDispatchInfo.Capture(e);
                Stream.Close(e);
            }
        }
    }

    /// <summary>
    /// Gives up on an upload the server answered before it was all sent: closes the stream, which
    /// fails a write waiting for the socket, and ends the wait for the body producer, whose
    /// further writes fail. The connection is not kept (the request was cut short).
    /// </summary>
    private void AbandonUpload()
    {
        if (_upload is { IsCompleted: false })
        {
            _uploadStopped = true;
            Stream.Close();
            _producerWait?.Abort(new StreamClosedException("The server answered before the request body was sent; the rest of it is not sent.", null));
        }

        _upload = null;
    }

    /// <summary>Sends the body; a write that fails because the server went away is kept (see <see cref="SendRequestAsync"/>).</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask SendBodyAsync(bool chunkedUpload)
    {
        try
        {
            await WriteBodyAsync(chunkedUpload).ConfigureAwait(false);
            _bodySent = true;
        }
        catch (StreamClosedException e) when (_abortError is null)
        {
            _sendFailure = e;
        }
    }

    /// <summary>The request line and headers, straight into the stream's write buffer.</summary>
    private void WriteHead(PipeWriter output, bool chunkedUpload, bool expectContinue)
    {
        AssertOnLoop();
        HttpRequest request = _request;
        RequestUrl url = _url;
        HttpHeaders? headers = request.HeadersOrNull;
        bool hostGiven = headers?.Contains("Host") == true;
        string? agent = request.UserAgent ?? (headers?.Contains("User-Agent") == true ? null : SimpleAsyncHttpClient.DefaultUserAgent);
        bool acceptEncoding = request.DecompressResponse == true && headers?.Contains("Accept-Encoding") != true;
        output.Write(_client.HeadPrefix.For(request.Method, url, ViaProxy, hostGiven, agent, acceptEncoding));
        if (request.IfModifiedSince is { } since)
        {
            Field(output, "If-Modified-Since", HttpSyntax.FormatDate(since));
        }

        string? user = request.AuthUsername ?? url.User;
        string? password = request.AuthUsername is not null ? request.AuthPassword : url.Password;
        bool sendAuthorization = user is not null;
        if (request.Body is { } body)
        {
            if (headers?.Contains("Content-Length") != true)
            {
                Put(output, "Content-Length: "u8);
                int written = body.Length.TryFormat(output.GetSpan(11), out int n, default, CultureInfo.InvariantCulture) ? n : 0;
                output.Advance(written);
                Put(output, "\r\n"u8);
            }

            if (request.Method == "POST" && headers?.Contains("Content-Type") != true)
            {
                Field(output, "Content-Type", "application/x-www-form-urlencoded");
            }
        }
        else if (chunkedUpload)
        {
            Field(output, "Transfer-Encoding", "chunked");
        }

        if (expectContinue)
        {
            Field(output, "Expect", "100-continue");
        }

        bool sendProxyAuthorization = ViaProxy && request.ProxyUsername is not null;
        if (headers is not null)
        {
            foreach (KeyValuePair<string, string> field in headers)
            {
                if ((sendAuthorization && field.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                    || (sendProxyAuthorization && field.Key.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase))
                    || (request.UserAgent is not null && field.Key.Equals("User-Agent", StringComparison.OrdinalIgnoreCase))
                    || (chunkedUpload && field.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                Field(output, field.Key, field.Value);
            }
        }

        if (sendAuthorization)
        {
            Field(output, "Authorization", BasicCredentials(user!, password));
        }

        if (sendProxyAuthorization)
        {
            Field(output, "Proxy-Authorization", BasicCredentials(request.ProxyUsername!, request.ProxyPassword));
        }

        Put(output, "\r\n"u8);
    }

    /// <summary>The value of a basic Authorization header: user-pass in UTF-8 after NFC normalisation, base64 (RFC 7617).</summary>
    internal static string BasicCredentials(string user, string? password)
    {
        string pair = $"{user.Normalize(NormalizationForm.FormC)}:{(password ?? string.Empty).Normalize(NormalizationForm.FormC)}";
        return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(pair));
    }

    internal static void Field(PipeWriter output, string name, string value)
    {
        Put(output, name);
        Put(output, ": "u8);
        Put(output, value);
        Put(output, "\r\n"u8);
    }

    /// <summary>Text as sent on the wire: ISO-8859-1, as Tornado sends field values.</summary>
    internal static void Put(PipeWriter output, string text)
    {
        Span<byte> span = output.GetSpan(text.Length);
        output.Advance(Encoding.Latin1.GetBytes(text, span));
    }

    private static void Put(PipeWriter output, ReadOnlySpan<byte> bytes) => output.Write(bytes);

    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask WriteBodyAsync(bool chunked)
    {
        HttpRequest request = _request;
        if (request.Body is { Length: > 0 } body)
        {
            await Stream.WriteAsync(body).ConfigureAwait(false);
            return;
        }

        if (request.BodyProducer is { } producer)
        {
            await ProduceBodyAsync(producer, chunked).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the body producer (its own method: the closure it needs is made only for requests that have one).</summary>
    [AsyncMethodBuilder(typeof(PooledTaskBuilder))]
    private async ValueTask ProduceBodyAsync(Func<Func<ReadOnlyMemory<byte>, ValueTask>, Task> producer, bool chunked)
    {
        HttpRequest request = _request;
        long declared = request.HeadersOrNull?.TryGetValue("Content-Length", out string? length) == true && long.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : -1;
        long written = 0;
        bool first = true;
        int generation = _generation;
        PipeWriter output = Stream.Output;
        Task produced = producer(async data =>
        {
            if (generation != _generation || _abortError is not null)
            {
                // The exchange was aborted (and gave up waiting for the producer): nothing more goes out.
                throw new StreamClosedException("The request was aborted; its body producer can write no more.", _abortError);
            }

            if (_uploadStopped)
            {
                throw new StreamClosedException("The server answered before the request body was sent; its body producer can write no more.", null);
            }

            if (data.IsEmpty)
            {
                return;
            }

            written += data.Length;
            if (declared >= 0 && written > declared)
            {
                throw new InvalidOperationException($"The body producer wrote more than the Content-Length of {declared} bytes.");
            }

            if (chunked)
            {
                // The end of the previous chunk and this one's size go out with its data.
                if (!first)
                {
                    Put(output, "\r\n"u8);
                }

                Put(output, data.Length.ToString("x", CultureInfo.InvariantCulture));
                Put(output, "\r\n"u8);
                first = false;
            }

            await Stream.WriteAsync(data).ConfigureAwait(true);
        });

        // The producer may wait for something that never comes: an abort ends the wait.
        await WaitForUserTaskAsync(new ValueTask(produced), producer: true).ConfigureAwait(false);

        if (chunked)
        {
            Put(output, first ? "0\r\n\r\n"u8 : "\r\n0\r\n\r\n"u8);
            await output.FlushAsync().ConfigureAwait(false);
        }
        else if (declared >= 0 && written != declared)
        {
            throw new InvalidOperationException($"The body producer wrote {written} bytes, not the Content-Length of {declared}.");
        }
    }
}
