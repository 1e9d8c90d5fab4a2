using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Loop.Curl.Native;
using Loop.Http;
using Microsoft.Extensions.Logging;

namespace Loop.Curl;

/// <summary>
/// The native callbacks (body, headers, upload, seek, progress, debug), called on the loop thread
/// from inside libcurl: each turns an exception into curl's failure value and keeps it for
/// <see cref="Complete"/>. The upload they read is here; the head and body they feed are in
/// <c>.Head.cs</c> and <c>.Body.cs</c>.
/// </summary>
internal sealed partial class CurlTransfer
{
    private nuint OnRead(Span<byte> buffer)
    {
        if (_request.Body is { } body)
        {
            int n = Math.Min(buffer.Length, body.Length - _uploadOffset);
            body.AsSpan(_uploadOffset, n).CopyTo(buffer);
            _uploadOffset += n;
            return (nuint)n;
        }

        int written = 0;
        while (written < buffer.Length)
        {
            if (_current is null && (_produced is null || !_produced.TryDequeue(out _current)))
            {
                break;
            }

            int n = Math.Min(buffer.Length - written, _current.Length - _currentOffset);
            _current.AsSpan(_currentOffset, n).CopyTo(buffer[written..]);
            written += n;
            _currentOffset += n;
            if (_currentOffset == _current.Length)
            {
                _current = null;
                _currentOffset = 0;
            }
        }

        if (_current is null && (_produced is null || _produced.Count == 0) && _drained is { } drained)
        {
            // Everything written so far is in curl's hands: the producer may go on.
            _drained = null;
            _client.Loop.AddCallback(static state => ((TaskCompletionSource)state!).TrySetResult(), drained);
        }

        if (written > 0)
        {
            return (nuint)written;
        }

        if (_producerDone || _request.BodyProducer is null)
        {
            return 0; // The end of the body.
        }

        _readPaused = true;
        return CurlFlags.ReadPause;
    }

    private int OnSeek(long offset, int origin)
    {
        if (_request.Body is null || origin != 0 || offset < 0 || offset > _request.Body.Length)
        {
            return CurlFlags.SeekCantSeek;
        }

        // curl sends the body again (digest authentication, a redirect that keeps it).
        _uploadOffset = (int)offset;
        return CurlFlags.SeekOk;
    }

    private static CurlTransfer? From(nint userData) => userData == 0 ? null : GCHandle.FromIntPtr(userData).Target as CurlTransfer;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint WriteCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            return transfer.OnBody(new ReadOnlySpan<byte>(data, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            // Returning less than given makes curl end the transfer with CURLE_WRITE_ERROR.
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint HeaderCallback(byte* data, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        int length = checked((int)(size * count));
        try
        {
            transfer.OnHeaderLine(new ReadOnlySpan<byte>(data, length));
            return (nuint)length;
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe nuint ReadCallback(byte* buffer, nuint size, nuint count, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.ReadAbort;
        }

        try
        {
            return transfer.OnRead(new Span<byte>(buffer, checked((int)(size * count))));
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.ReadAbort;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int SeekCallback(nint userData, long offset, int origin)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return CurlFlags.SeekCantSeek;
        }

        try
        {
            return transfer.OnSeek(offset, origin);
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return CurlFlags.SeekCantSeek;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int ProgressCallback(nint userData, long downloadTotal, long downloadNow, long uploadTotal, long uploadNow)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 1;
        }

        try
        {
            transfer.OnProgress(downloadNow);
            return 0;
        }
        catch (Exception e)
        {
            // Non-zero makes curl end the transfer with CURLE_ABORTED_BY_CALLBACK.
            transfer.SetCallbackError(e);
            return 1;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int PrereqCallback(nint userData, byte* primaryIp, byte* localIp, int primaryPort, int localPort)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 1;
        }

        try
        {
            return transfer.OnConnectionChosen(primaryPort, localPort) ? 0 : 1;
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
            return 1;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int DebugCallback(nint easy, int kind, byte* data, nuint size, nint userData)
    {
        CurlTransfer? transfer = From(userData);
        if (transfer is null)
        {
            return 0;
        }

        try
        {
            // 3: body bytes as read (before de-chunking): counted, see OnProgress.
            if (kind == 3)
            {
                transfer._rawBodyBytes += (long)size;
            }

            // 0: curl's own text; 1 and 2: header lines in and out (Tornado's debug log), at
            // Trace: header lines carry values (credentials, cookies).
            else if (kind is 0 or 1 or 2 && transfer._logDebug)
            {
                string text = Encoding.Latin1.GetString(data, checked((int)size)).TrimEnd('\r', '\n');
                transfer._client.Logger.LogTrace("curl {Kind} {Text}", kind switch { 0 => "*", 1 => "<", _ => ">" }, text);
            }
        }
        catch (Exception e)
        {
            transfer.SetCallbackError(e);
        }

        return 0;
    }
}
