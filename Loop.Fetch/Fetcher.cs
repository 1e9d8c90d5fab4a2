using Loop.Curl;
using Loop.Http;
using Microsoft.Win32.SafeHandles;

namespace Loop.Fetch;

/// <summary>
/// Runs the fetches of one command line: every URL at once on one <see cref="IOLoop"/> with one
/// <see cref="AsyncHttpClient"/> (queued past its <c>MaxClients</c> of 10, as Tornado queues),
/// the outputs written in the order of the URLs, one line on stderr for each failure, and the
/// exit code of the worst outcome.
/// </summary>
internal static class Fetcher
{
    /// <summary>Fetches what <paramref name="settings"/> asks for; called on the main thread, which becomes the loop's.</summary>
    /// <returns>The exit code (<see cref="ExitCodes"/>).</returns>
    public static int Run(FetchSettings settings)
    {
        Stream? output;
        try
        {
            output = OpenOutput(settings);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"loop-fetch: cannot write {settings.OutputPath}: {ErrorText.OneLine(e.Message)}");
            return ExitCodes.Usage;
        }

        using Stream? outputToClose = output;
        using var loop = new IOLoop();
        AsyncHttpClient client;
        try
        {
            client = CreateClient(loop, settings);
        }
        catch (CurlUnavailableException e)
        {
            Console.Error.WriteLine($"loop-fetch: the curl client cannot run here: {ErrorText.OneLine(e.Message)}");
            return ExitCodes.NoResponse;
        }

        // The first URL writes as its body arrives; the others spool until their turn.
        Transfer[] transfers = [.. settings.Urls.Select((url, index) => new Transfer(url, settings, index == 0 ? output : null, output is not null))];

        // As curl: not while the body itself goes to the terminal, where the line would mix with it.
        bool bodyOnTerminal = output is not null && settings.OutputPath is null && !Console.IsOutputRedirected;
        ProgressDisplay? progress = settings.Json || Console.IsErrorRedirected || bodyOnTerminal ? null : new ProgressDisplay(loop, transfers, Console.Error);
        try
        {
            return loop.RunSync(() => FetchAllAsync(client, transfers, output, progress, settings));
        }
        finally
        {
            foreach (Transfer transfer in transfers)
            {
                transfer.Dispose();
            }
        }
    }

    private static async Task<int> FetchAllAsync(AsyncHttpClient client, Transfer[] transfers, Stream? output, ProgressDisplay? progress, FetchSettings settings)
    {
        using Stream? jsonOut = settings.Json ? OpenStandardOutput() : null;
        progress?.Start();

        // Cancelled when the output can no longer be written: the other fetches stop too.
        using var outputGone = new CancellationTokenSource();
        Task[] fetches = [.. transfers.Select(transfer => transfer.RunAsync(client, outputGone.Token))];
        int worst = ExitCodes.Success;
        try
        {
            for (int i = 0; i < transfers.Length; i++)
            {
                Transfer transfer = transfers[i];
                await fetches[i];
                if (outputGone.IsCancellationRequested)
                {
                    // Said once, for the URL whose write failed.
                    worst = ExitCodes.NoResponse;
                    continue;
                }

                if (output is not null)
                {
                    try
                    {
                        await transfer.CopySpoolAsync(output);
                        await output.FlushAsync();
                    }
                    catch (IOException e)
                    {
                        transfer.FailWrite(e, settings.OutputPath ?? "stdout");
                    }
                }

                if (jsonOut is not null)
                {
                    try
                    {
                        await jsonOut.WriteAsync(JsonReport.Line(transfer, settings));
                    }
                    catch (IOException e)
                    {
                        transfer.FailWrite(e, "stdout");
                    }
                }

                (int code, string? message) = Outcome(transfer, settings);
                if (message is not null)
                {
                    string line = transfers.Length > 1 ? $"loop-fetch: {transfer.Url}: {message}" : $"loop-fetch: {message}";
                    if (progress is not null)
                    {
                        progress.WriteLine(line);
                    }
                    else
                    {
                        Console.Error.WriteLine(line);
                    }
                }

                worst = Math.Max(worst, code);
                if (transfer.WriteError is not null)
                {
                    await outputGone.CancelAsync();
                }
            }
        }
        finally
        {
            progress?.Finish();
            client.Close();
        }

        return worst;
    }

    /// <summary>The exit code of one URL, and the line to say on stderr (null for none).</summary>
    private static (int Code, string? Message) Outcome(Transfer transfer, FetchSettings settings)
    {
        HttpResponse? response = transfer.Response;
        if (transfer.WriteError is { } write)
        {
            return (ExitCodes.NoResponse, $"cannot write {transfer.WriteTarget}: {ErrorText.OneLine(write.Message)}");
        }

        switch (transfer.Error)
        {
            case null:
                return (ExitCodes.Success, null);
            case ArgumentException:
                return (ExitCodes.Usage, ErrorText.Describe(transfer.Error, transfer.Url, settings));
            case HttpClientError { Code: not 599 } when response is not null:
                string status = ErrorText.Describe(transfer.Error, transfer.Url, settings);
                if (settings.FollowRedirects && response.Code is 301 or 302 or 303 or 307 or 308 && response.Headers.Contains("Location"))
                {
                    // The client gave up following: the last redirect is the answer.
                    string limit = settings.MaxRedirects?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? HttpFetchOptions.DefaultMaxRedirects.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    return (settings.Fail ? ExitCodes.HttpError : ExitCodes.Success, $"too many redirects (--max-redirects {limit}); the last answer was {status}");
                }

                return settings.Fail ? (ExitCodes.HttpError, status) : (ExitCodes.Success, null);
            default:
                return (ExitCodes.NoResponse, ErrorText.Describe(transfer.Error, transfer.Url, settings));
        }
    }

    private static Stream? OpenOutput(FetchSettings settings)
    {
        if (!settings.WritesOutput)
        {
            return null;
        }

        return settings.OutputPath is { } path
            ? new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous)
            : OpenStandardOutput();
    }

    /// <summary>
    /// Stdout as a stream that fails when no one reads it any more. Console's own stream ignores
    /// EPIPE, so a fetch piped into <c>head</c> would download to the end into nothing; a
    /// FileStream over descriptor 1 reports it (an <see cref="IOException"/>: the fetch stops,
    /// exit code 3). Only for a pipe, terminal or socket: over a regular file the FileStream would
    /// write at offsets of its own without moving the descriptor's, which the shell shares with
    /// whatever writes to the file after this process; Console's stream writes through it.
    /// </summary>
    private static Stream OpenStandardOutput()
    {
        if (OperatingSystem.IsWindows())
        {
            return Console.OpenStandardOutput();
        }

        var descriptor = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        if (!descriptor.CanSeek)
        {
            return descriptor;
        }

        descriptor.Dispose();
        return Console.OpenStandardOutput();
    }

    private static AsyncHttpClient CreateClient(IOLoop loop, FetchSettings settings)
    {
        // No limit on the body: it streams through, nothing of it is kept.
        var clientSettings = new AsyncHttpClientSettings { MaxBodySize = long.MaxValue };
        return settings.Client == ClientKind.Curl
            ? new CurlAsyncHttpClient(loop, clientSettings)
            : new SimpleAsyncHttpClient(loop, clientSettings);
    }
}
