using System.Runtime.CompilerServices;

namespace Loop.Http.Simple;

/// <summary>
/// The rest of a large Content-Length body received straight into the array it is kept in
/// (plain or pooled), not through the stream's buffer: <see cref="Pump"/> reads into
/// <see cref="DirectTarget"/> while there is one, and the stream receives into it in place when
/// nothing is buffered (<see cref="IOStream.ReadIntoAsync"/>).
/// </summary>
internal sealed partial class Http1Connection
{
    // Below this many bytes left of a body, they are copied from the stream's buffer as they come
    // (see DirectTarget): the gain measured was at 1 MiB bodies; a tail this small is one read
    // chunk's copy at most, and this threshold was not tuned.
    private const int DirectReceiveMinimum = 16 * 1024;

    // A body read straight into its array (see DirectTarget): the stream's read and its
    // continuation, whether one is pending, and whether this exchange has stopped reading so.
    private ValueTaskAwaiter<int> _directAwaiter;
    private Action? _onReceivedDirect;
    private bool _directPending;
    private bool _noDirect;

    /// <summary>
    /// Where the body's next bytes can be received in place: the rest of a Content-Length body
    /// that is kept in an array of its length (<see cref="Loop.Http.Body.BodyBuffer.DirectSpace"/>;
    /// <see cref="PrepareBody"/> makes one only for a body with no decoding, no callback and no
    /// writer), once at least <see cref="DirectReceiveMinimum"/> bytes are left, and all but its
    /// last byte. That byte comes through the stream's buffer, in a receive of a whole read chunk,
    /// so bytes the server sent past the body land there and the connection is not kept
    /// (<see cref="FinishExchange"/>), as when the whole body comes that way. Empty otherwise.
    /// </summary>
    private Memory<byte> DirectTarget() =>
        _noDirect || _state != ReadState.Length || _remaining < DirectReceiveMinimum ? Memory<byte>.Empty : _buffer.DirectSpace(_remaining - 1);

    /// <summary>
    /// Counts what a receive into <see cref="DirectTarget"/> brought (never the body's end). A
    /// failed read (the stream closed: the server, a reset, or an abort) ends reading in place:
    /// the stream's buffer is read instead, which reports the close as for any body
    /// (<see cref="TakeCounted"/>).
    /// </summary>
    private void TakeDirect(ValueTaskAwaiter<int> awaiter)
    {
        int n;
        try
        {
            n = awaiter.GetResult(); // Completed (the caller checked, or this is its continuation): no blocking.
        }
        catch (StreamClosedException)
        {
            _noDirect = true;
            return;
        }

        _buffer.CommitDirect(n);
        _client.InPlaceBodyBytes += n;
        _remaining -= n;
        _received += n;
    }

    /// <summary>A receive into the body's array completed (on the loop thread): go on from there.</summary>
    private void OnReceivedDirect()
    {
        ValueTaskAwaiter<int> awaiter = _directAwaiter;
        _directAwaiter = default;
        _directPending = false;
        try
        {
            TakeDirect(awaiter);
        }
        catch (Exception e)
        {
            Fail(e);
            return;
        }

        Pump();
    }
}
