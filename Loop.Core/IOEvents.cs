namespace Loop;

/// <summary>
/// Readiness of a file descriptor, as handed to an <see cref="IOHandler"/> and as asked for
/// when registering one. Registration is level-triggered: a handler is called again on every
/// loop iteration for as long as the condition holds.
/// </summary>
[Flags]
public enum IOEvents
{
    /// <summary>No events.</summary>
    None = 0,

    /// <summary>The descriptor can be read without blocking (data, a pending accept, or end of stream).</summary>
    Read = 0x001,

    /// <summary>The descriptor can be written without blocking, or a non-blocking connect finished.</summary>
    Write = 0x004,

    /// <summary>
    /// An error or hang-up was reported on the descriptor. It is always delivered, whether or not
    /// it was asked for; the handler should read or write to learn the actual cause.
    /// </summary>
    Error = 0x008,
}
