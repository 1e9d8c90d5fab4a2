namespace Loop;

/// <summary>
/// Called on the loop thread when a registered descriptor is ready.
/// </summary>
/// <param name="fd">The descriptor number that was registered.</param>
/// <param name="events">What is ready: only events the handler asked for, plus <see cref="IOEvents.Error"/>.</param>
public delegate void IOHandler(int fd, IOEvents events);
