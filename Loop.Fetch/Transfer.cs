using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Loop.Http;
using Microsoft.Win32.SafeHandles;

namespace Loop.Fetch;

/// <summary>
/// One URL's fetch: it counts and hashes the body as it streams in, and writes the head and the
/// body either straight to the output (the first URL) or to a spool file that is copied to the
/// output once the URLs before it are written (the others), so outputs never interleave.
/// Loop thread only.
/// </summary>
/// <remarks>
/// With either client the body goes through <see cref="HttpFetchOptions.AsyncStreamingCallback"/>:
/// the client reads no more until a piece is written (the curl client pauses the transfer), so a
/// slow stdout holds the server back (TCP flow control) and memory stays flat whatever the body's
/// size. Those writes run off the loop thread
/// (<see cref="Stream.WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> and
/// <see cref="RandomAccess.WriteAsync(SafeFileHandle, ReadOnlyMemory{byte}, long, CancellationToken)"/>);
/// their continuations come back to it through the loop's synchronization context.
/// </remarks>
internal sealed class Transfer : IDisposable
{
    private const int CopyBufferSize = 64 * 1024;

    private readonly FetchSettings _settings;
    private readonly Stream? _direct;
    private readonly bool _writes;

    // Only --json reports the hash: without it, OpenSSL is not even loaded (a tenth of a second at start).
    private readonly IncrementalHash? _sha256;

    // The final response's head lines, kept until the first piece of the body (or the end) so
    // that a head curl reports before a redirect or a 1xx can be dropped for the next one.
    private readonly StringBuilder _head = new();
    private bool _headEnded;
    private bool _headWritten;
    private bool _encoded;

    private SafeFileHandle? _spool;
    private long _spoolLength;
    private byte[]? _hash;

    /// <param name="url">The URL to fetch.</param>
    /// <param name="settings">The command line.</param>
    /// <param name="direct">Where to write the head and body as they arrive; null to spool them (when <paramref name="writes"/>).</param>
    /// <param name="writes">Whether anything of this response is written at all.</param>
    public Transfer(string url, FetchSettings settings, Stream? direct, bool writes)
    {
        Url = url;
        _settings = settings;
        _direct = direct;
        _writes = writes;
        _sha256 = settings.Json ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    public string Url { get; }

    /// <summary>Body bytes received so far (decoded, as written).</summary>
    public long Received { get; private set; }

    /// <summary>The final response's Content-Length when it counts the bytes written (not for an encoded body); null before the head or when unknown.</summary>
    public long? ExpectedLength { get; private set; }

    /// <summary>The final response's status line as the server sent it (its version included), without CRLF.</summary>
    public string? StatusLine { get; private set; }

    /// <summary>The protocol version from <see cref="StatusLine"/>, for example <c>HTTP/1.0</c>.</summary>
    public string? Version => StatusLine is { } line ? line.Split(' ', 2)[0] : null;

    public HttpResponse? Response { get; private set; }

    /// <summary>What went wrong: the response's error (a non-2xx status, or a 599), an invalid request, a failed write; null for a 2xx.</summary>
    public Exception? Error { get; private set; }

    /// <summary>The failure of one of this URL's own writes (stdout closed, disk full), which ends its fetch; null when none failed.</summary>
    public IOException? WriteError { get; private set; }

    /// <summary>What <see cref="WriteError"/> failed to write: the <c>-o</c> file or stdout.</summary>
    public string? WriteTarget { get; private set; }

    public bool IsFinished { get; private set; }

    /// <summary>The SHA-256 of the body received, after the fetch; with <c>--json</c> only.</summary>
    public byte[] Sha256 => _hash ??= _sha256?.GetHashAndReset() ?? throw new InvalidOperationException("The body is hashed for --json only.");

    /// <summary>Fetches the URL with <paramref name="client"/>; never throws (the outcome is in <see cref="Response"/> and <see cref="Error"/>).</summary>
    /// <param name="client">The client, on the loop this runs on.</param>
    /// <param name="cancellationToken">Stops the fetch (the output can no longer be written).</param>
    public async Task RunAsync(AsyncHttpClient client, CancellationToken cancellationToken)
    {
        HttpRequest request = _settings.CreateRequest(Url);
        request.HeaderCallback = OnHeaderLine;
        request.AsyncStreamingCallback = OnBodyAsync;
        try
        {
            HttpResponse response = await client.FetchAsync(request, raiseError: false, cancellationToken);
            Response = response;
            Error = response.Error;
            if (_writes && !_headWritten && _headEnded)
            {
                await WriteHeadAsync();
            }
        }
        catch (Exception e) when (e is ArgumentException or OperationCanceledException)
        {
            Error = e;
        }
        catch (IOException e)
        {
            Error = e;
            NoteWriteError(e, OutputName);
        }
        finally
        {
            IsFinished = true;
        }
    }

    /// <summary>Copies what was spooled to <paramref name="output"/>, then lets the spool file go.</summary>
    /// <exception cref="IOException">Writing to <paramref name="output"/> failed.</exception>
    public async Task CopySpoolAsync(Stream output)
    {
        if (_spool is not { } spool)
        {
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            for (long offset = 0; offset < _spoolLength;)
            {
                int read = await RandomAccess.ReadAsync(spool, buffer.AsMemory(0, CopyBufferSize), offset);
                if (read == 0)
                {
                    break;
                }

                await output.WriteAsync(buffer.AsMemory(0, read));
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            spool.Dispose();
            _spool = null;
        }
    }

    /// <summary>Records a write to <paramref name="target"/> that failed after the fetch (the spooled output, the JSON line).</summary>
    public void FailWrite(IOException error, string target)
    {
        Error = error;
        NoteWriteError(error, target);
    }

    public void Dispose()
    {
        _spool?.Dispose();
        _sha256?.Dispose();
        Response?.Dispose();
    }

    /// <summary>Where this URL's head and body go: the <c>-o</c> file or stdout (a spool file's failure is the same disk's).</summary>
    private string OutputName => _settings.OutputPath ?? "stdout";

    private void NoteWriteError(IOException error, string target)
    {
        if (WriteError is null)
        {
            WriteError = error;
            WriteTarget = target;
        }
    }

    private void OnHeaderLine(string line)
    {
        if (_headEnded && line.StartsWith("HTTP/", StringComparison.Ordinal))
        {
            // A new head after a complete one: curl reports a 1xx's and a followed redirect's
            // heads too. Only the final response's is written.
            _head.Clear();
            _headEnded = false;
            ExpectedLength = null;
            _encoded = false;
        }

        if (_head.Length == 0)
        {
            StatusLine = line.TrimEnd('\r', '\n');
        }
        else if (line is "\r\n" or "\n")
        {
            _headEnded = true;
        }
        else if (line.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase)
            && long.TryParse(line.AsSpan(15).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long length))
        {
            ExpectedLength = _encoded ? null : length;
        }
        else if (line.StartsWith("content-encoding:", StringComparison.OrdinalIgnoreCase))
        {
            // The body is decoded as it arrives: the Content-Length does not count what is written.
            _encoded = true;
            ExpectedLength = null;
        }

        _head.Append(line);
    }

    private SafeFileHandle OpenSpool()
    {
        if (_spool is null)
        {
            string path = Path.Combine(Path.GetTempPath(), $"loop-fetch-{Guid.NewGuid():N}.tmp");
            _spool = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            if (!OperatingSystem.IsWindows())
            {
                // Gone from the directory at once (the open handle keeps the data): nothing is
                // left behind even when the process is killed (Windows deletes it on close itself).
                File.Delete(path);
            }
        }

        return _spool;
    }

    private ValueTask OnBodyAsync(ReadOnlyMemory<byte> piece)
    {
        Received += piece.Length;
        _sha256?.AppendData(piece.Span);
        return _writes && (_settings.PrintBody || !_headWritten) ? WriteBodyAsync(piece) : ValueTask.CompletedTask;
    }

    private async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> piece)
    {
        if (!_headWritten)
        {
            await WriteHeadAsync();
        }

        if (_settings.PrintBody)
        {
            await WriteAsync(piece);
        }
    }

    private async ValueTask WriteHeadAsync()
    {
        _headWritten = true;
        if (_settings.PrintHeaders && _head.Length > 0)
        {
            await WriteAsync(Encoding.Latin1.GetBytes(_head.ToString()));
        }
    }

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> data)
    {
        try
        {
            if (_direct is not null)
            {
                await _direct.WriteAsync(data);
                return;
            }

            await RandomAccess.WriteAsync(OpenSpool(), data, _spoolLength);
            _spoolLength += data.Length;
        }
        catch (IOException e)
        {
            NoteWriteError(e, OutputName);
            throw;
        }
    }
}
