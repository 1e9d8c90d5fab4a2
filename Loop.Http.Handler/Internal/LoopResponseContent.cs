using System.Net;

namespace Loop.Http.Internal;

/// <summary>
/// A response's content: <see cref="LoopResponseStream"/>, read once (<c>ReadAsStreamAsync</c>,
/// or <c>LoadIntoBufferAsync</c> and the methods built on it). Disposing it before the body's end
/// aborts the transfer.
/// </summary>
internal sealed class LoopResponseContent(LoopResponseStream stream) : HttpContent
{
    private int _consumed;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _consumed, 1) != 0)
        {
            throw new InvalidOperationException("The response content has already been read: it is streamed, not buffered.");
        }

        return stream.CopyToAsync(target, cancellationToken);
    }

    protected override void SerializeToStream(Stream target, TransportContext? context, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _consumed, 1) != 0)
        {
            throw new InvalidOperationException("The response content has already been read: it is streamed, not buffered.");
        }

        // HttpClient.Send: blocks on the body (never on the loop's thread, which the stream refuses).
        stream.CopyTo(target);
    }

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(stream);

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => Task.FromResult<Stream>(stream);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => stream;

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            stream.Dispose();
        }

        base.Dispose(disposing);
    }
}
