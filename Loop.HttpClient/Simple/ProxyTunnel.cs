using System.Buffers;
using System.IO.Pipelines;

namespace Loop.Http.Simple;

/// <summary>
/// An https request through an HTTP proxy: a <c>CONNECT host:port</c> to the proxy (with its
/// basic credentials), then TLS with the origin over the tunnel the proxy opened (RFC 9110 §9.3.6).
/// </summary>
internal static class ProxyTunnel
{
    /// <summary>
    /// Opens the tunnel on <paramref name="stream"/> (connected to the proxy) and returns the TLS
    /// stream to the origin. Fails with an <see cref="HttpConnectError"/> naming the proxy's
    /// answer when it refuses, with <see cref="TimeoutException"/> when <paramref name="timeout"/>
    /// runs out first, and with <see cref="OperationCanceledException"/> when the fetch is
    /// cancelled. <paramref name="abort"/> (the fetch's cancellation or the client's Close) ends
    /// it too; the caller tells a Close from a timeout.
    /// </summary>
    public static async Task<IOStream> OpenAsync(IOStream stream, FetchState fetch, CancellationToken abort, TlsClientOptions tls, TimeSpan timeout, int maxHeaderSize)
    {
        HttpRequest request = fetch.Request;
        RequestUrl url = fetch.Url;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(abort);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            limit.CancelAfter(timeout > TimeSpan.Zero ? timeout : TimeSpan.FromMilliseconds(1));
        }

        // Until TLS starts, a timeout or a cancellation closes the plain stream under the read.
        IOLoop loop = stream.Loop;
        CancellationTokenRegistration closing = limit.Token.UnsafeRegister(
            static state => ((IOStream)state!).Loop.AddCallback(static s => ((IOStream)s!).Close(new OperationCanceledException()), state),
            stream);
        try
        {
            string authority = url.Uri.HostNameType == UriHostNameType.IPv6 ? $"[{url.Host}]:{url.Port}" : $"{url.Host}:{url.Port}";
            PipeWriter output = stream.Output;
            Http1Connection.Put(output, "CONNECT ");
            Http1Connection.Put(output, authority);
            Http1Connection.Put(output, " HTTP/1.1\r\n");
            Http1Connection.Field(output, "Host", authority);
            if (request.ProxyUsername is not null)
            {
                Http1Connection.Field(output, "Proxy-Authorization", Http1Connection.BasicCredentials(request.ProxyUsername, request.ProxyPassword));
            }

            Http1Connection.Put(output, "\r\n");
            await output.FlushAsync().ConfigureAwait(true);

            var head = new ResponseHead();
            PipeReader input = stream.Input;
            while (true)
            {
                ReadResult read = await input.ReadAsync().ConfigureAwait(true);
                ReadOnlySequence<byte> buffer = read.Buffer;
                long end = ResponseHead.FindEnd(buffer, out long skipped);
                if (end >= 0 && end - skipped <= maxHeaderSize)
                {
                    head.Parse(buffer.Slice(skipped, end - skipped).ToArray(), keepRawLines: false);
                    input.AdvanceTo(buffer.GetPosition(end));
                    break;
                }

                if (end >= 0 || buffer.Length - skipped > maxHeaderSize)
                {
                    throw new HttpProtocolError($"The proxy's response headers are larger than MaxHeaderSize ({maxHeaderSize} bytes)");
                }

                if (read.IsCompleted)
                {
                    input.AdvanceTo(buffer.End);
                    throw new HttpStreamClosedError("The proxy closed the connection before answering CONNECT", stream.Error);
                }

                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (head.Code is < 200 or >= 300)
            {
                throw new HttpConnectError(request.ProxyHost!, request.ProxyPort ?? SimpleAsyncHttpClient.DefaultProxyPort, $"The proxy refused CONNECT to {authority}: {head.Code} {head.Reason}");
            }

            closing.Dispose();
            return await stream.StartTlsAsync(tls, limit.Token).ConfigureAwait(true);
        }
        catch (Exception) when (fetch.CancellationToken.IsCancellationRequested)
        {
            stream.Close();
            throw new OperationCanceledException(fetch.CancellationToken);
        }
        catch (Exception) when (limit.IsCancellationRequested)
        {
            stream.Close();
            throw new TimeoutException("Timeout while connecting through the proxy.");
        }
        catch
        {
            stream.Close();
            throw;
        }
        finally
        {
            closing.Dispose();
        }
    }
}
